"""Measure 1: the writer's latency while the 16 constraints go in, three ways on the same data:
the bare ADD … NOT VALID statements through psql, fkguard's `pulumi up`, and the naive ADD
FOREIGN KEY (no NOT VALID) that scans under a lock."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from bench.writer import Writer, summary
from fkguard import ddl
from fkguard.backup import libpq_env, pg_tool
from fkguard.catalog import ForeignKey
from fkguard.locks import TRACE_ENV
from fkguard.settings import ConnectionSettings
from fkguard_testing.scratch import ScratchProject


def psql(settings: ConnectionSettings, script: str) -> None:
    subprocess.run([pg_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", script],
                   env=libpq_env(settings), check=True, capture_output=True, text=True)


def drop_all(settings: ConnectionSettings, catalog: list[ForeignKey]) -> None:
    with settings.connect() as conn:
        script = "; ".join(ddl.drop(fk).as_string(conn) for fk in catalog)
    psql(settings, script)


def statements(settings: ConnectionSettings, catalog: list[ForeignKey], naive: bool) -> str:
    with settings.connect() as conn:
        parts = [ddl.add_not_valid(fk).as_string(conn) for fk in catalog]
    if naive:  # the same statement without NOT VALID: PostgreSQL scans while holding its lock
        parts = [p.removesuffix(" NOT VALID") for p in parts]
    return "; ".join(parts)


def measure(settings: ConnectionSettings, instances: int, rollout: Callable[[], list[tuple[float, float]] | None]
            ) -> dict:
    """The writer's latency during the whole rollout, and during the windows in which the rollout
    held or queued for a lock (what `rollout` returns; None: the whole rollout was one such window)."""
    writer = Writer(settings, instances)
    writer.start()
    time.sleep(1.0)  # a steady state before
    started = time.monotonic()
    windows = rollout()
    ended = time.monotonic()
    time.sleep(1.0)
    writer.stop()
    windows = windows if windows is not None else [(started, ended)]
    return {"seconds": ended - started, **summary(writer.during(started, ended)),
            "locked": summary(writer.overlapping(windows)), "lock_windows": len(windows),
            "lock_seconds": sum(b - a for a, b in windows), "windows": windows,
            "baseline": summary(writer.during(0, started)), "samples": writer.samples, "start": started,
            "end": ended}


def traced_up(project: ScratchProject, trace: Path) -> list[tuple[float, float]]:
    """`pulumi up`, with the provider writing each lock-taking attempt's window to `trace`."""
    trace.unlink(missing_ok=True)
    project.run("up", "--stack", "local", "--yes", "--skip-plugin-pre-install", env={TRACE_ENV: str(trace)})
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    if not lines:
        raise RuntimeError(f"{trace} is empty: the provider wrote no lock trace, so the stall cannot be attributed")
    return [(line["monotonic_start"], line["monotonic_end"]) for line in lines]


def run(settings: ConnectionSettings, catalog: list[ForeignKey], project: ScratchProject, instances: int,
        progress: Callable[[str], None]) -> dict[str, dict]:
    results = {}
    drop_all(settings, catalog)
    progress("stall: bare ADD … NOT VALID through psql")
    results["bare NOT VALID (psql)"] = measure(settings, instances, lambda: psql(settings, statements(
        settings, catalog, naive=False)))
    drop_all(settings, catalog)
    progress("stall: fkguard (pulumi up)")
    results["fkguard (pulumi up)"] = measure(settings, instances, lambda: traced_up(
        project, project.root / "lock-trace.jsonl"))
    project.run("destroy", "--stack", "local", "--yes", "--skip-plugin-pre-install")
    progress("stall: naive ADD FOREIGN KEY (no NOT VALID) through psql")
    results["naive ADD FK (psql)"] = measure(settings, instances, lambda: psql(settings, statements(
        settings, catalog, naive=True)))
    drop_all(settings, catalog)
    return results
