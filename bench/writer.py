"""A steady application writer: one insert into a referencing table and one update of a referenced
table every `interval`, each timed, from its own connection (the plan's traffic during a rollout)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from bench.stats import percentile
from fkguard.stack.settings import ConnectionSettings

WRITE = [
    "INSERT INTO workflow_stages (id, workflow_instance_id, stage_number, stage_name) "
    "VALUES (gen_random_uuid()::text, md5('wi:' || %(n)s)::uuid::text, 99, 'bench writer')",
    "UPDATE workspaces SET name = name WHERE id = md5('ws:' || (1 + %(n)s %% 20))::uuid::text",
]


@dataclass(eq=False)  # a thread must stay hashable
class Writer(threading.Thread):
    settings: ConnectionSettings
    instances: int
    interval: float = 0.005
    samples: list[tuple[float, float]] = field(default_factory=list)  # (start time, latency in ms)

    def __post_init__(self) -> None:
        super().__init__(daemon=True)
        self._halt = threading.Event()

    def run(self) -> None:
        n = 0
        with self.settings.connect(application_name="bench-writer") as conn:
            next_at = time.monotonic()
            while not self._halt.is_set():
                n += 1
                started = time.monotonic()
                for statement in WRITE:
                    conn.execute(statement, {"n": 1 + n % self.instances})
                self.samples.append((started, (time.monotonic() - started) * 1000))
                next_at += self.interval
                time.sleep(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._halt.set()
        self.join(30)

    def during(self, start: float, end: float) -> list[float]:
        return [ms for at, ms in self.samples if start <= at <= end]

    def overlapping(self, windows: list[tuple[float, float]]) -> list[float]:
        """Writes in flight at any moment of these windows: the ones a lock taken then could delay."""
        return [ms for at, ms in self.samples if any(at <= end and at + ms / 1000 >= start for start, end in windows)]


def summary(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"n": 0, "p50": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(latencies)
    return {"n": len(ordered), "p50": percentile(ordered, 0.50),
            "p99": percentile(ordered, 0.99), "max": ordered[-1]}
