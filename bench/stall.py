"""Measure 1: the writer's latency while the 16 constraints go in, three ways on the same data:
the bare ADD … NOT VALID statements through psql, fkguard's `pulumi up`, and the naive ADD
FOREIGN KEY (no NOT VALID) that scans under a lock."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from bench.writer import Writer, summary
from fkguard import ddl
from fkguard.backup import libpq_env, pg_tool
from fkguard.catalog import ForeignKey
from fkguard.locks import TRACE_ENV
from fkguard.stack.settings import ConnectionSettings
from fkguard_testing.scratch import ScratchProject

CONTROL = "control: no-op pulumi up (no SQL)"


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


def checkpoints(settings: ConnectionSettings) -> int:
    """PostgreSQL's checkpoints so far (timed and requested): a checkpoint's writes and fsyncs can stall a
    durable writer outside any lock window."""
    with settings.connect() as conn:
        if conn.info.server_version >= 170000:  # PostgreSQL 17 moved them to pg_stat_checkpointer
            return int(conn.execute("SELECT num_timed + num_requested FROM pg_stat_checkpointer").fetchone()[0])
        return int(conn.execute("SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter").fetchone()[0])


def slowest_outside(samples: list[tuple[float, float]], windows: list[tuple[float, float]], start: float,
                    end: float, k: int = 3) -> list[tuple[float, float]]:
    """The k slowest writes of [start, end] in flight during no lock window, as (seconds since start, ms)."""
    outside = [(at, ms) for at, ms in samples if start <= at <= end
               and not any(at <= b and at + ms / 1000 >= a for a, b in windows)]
    return [(at - start, ms) for at, ms in sorted(outside, key=lambda s: -s[1])[:k]]


def measure(settings: ConnectionSettings, instances: int, rollout: Callable[[], list[tuple[float, float]] | None]
            ) -> dict:
    """The writer's latency during the whole rollout, and during the windows in which the rollout
    held or queued for a lock (what `rollout` returns; None: the whole rollout was one such window)."""
    writer = Writer(settings, instances)
    writer.start()
    time.sleep(1.0)  # a steady state before
    checkpoints_before = checkpoints(settings)
    started = time.monotonic()
    windows = rollout()
    ended = time.monotonic()
    checkpoints_during = checkpoints(settings) - checkpoints_before
    time.sleep(1.0)
    writer.stop()
    windows = windows if windows is not None else [(started, ended)]
    return {"seconds": ended - started, **summary(writer.during(started, ended)),
            "locked": summary(writer.overlapping(windows)), "lock_windows": len(windows),
            "lock_seconds": sum(b - a for a, b in windows), "windows": windows,
            "slowest_outside": slowest_outside(writer.samples, windows, started, ended),
            "checkpoints": checkpoints_during,
            "baseline": summary(writer.during(0, started)), "samples": writer.samples, "start": started,
            "end": ended}


def noop_up(folder: Path, port: int, database: str, resources: int) -> Callable[[], list[tuple[float, float]]]:
    """The control for the whole-rollout outlier: `pulumi up` of as many dynamic resources as fkguard's rollout
    has, whose provider runs no SQL (bench/noop): the same engine, language host, provider start-up and state
    checkpoints, and no lock at all. What the writer suffers here is the machine's, not fkguard's statements'."""
    noop = ScratchProject.create(folder, port, database)
    for name in ("__main__.py", "noop_provider.py"):
        shutil.copy2(Path(__file__).resolve().parent / "noop" / name, noop.root / name)
    noop.run("config", "set", "bench:resources", str(resources), "--stack", "local")

    def up() -> list[tuple[float, float]]:
        noop.run("up", "--stack", "local", "--yes", "--skip-plugin-pre-install")
        return []  # no lock window

    return up


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
    state = json.loads(project.state_file("local").read_text())
    # fkguard's resources, less the stack and the provider, which the no-op stack has too
    resources = len(state["checkpoint"]["latest"]["resources"]) - 2
    project.run("destroy", "--stack", "local", "--yes", "--skip-plugin-pre-install")
    progress(f"stall: the control, pulumi up of {resources} no-op resources (no SQL, no lock)")
    results[CONTROL] = measure(settings, instances, noop_up(project.root.parent / "stall-noop", settings.port,
                                                             settings.database, resources))
    progress("stall: naive ADD FOREIGN KEY (no NOT VALID) through psql")
    results["naive ADD FK (psql)"] = measure(settings, instances, lambda: psql(settings, statements(
        settings, catalog, naive=True)))
    drop_all(settings, catalog)
    return results
