"""The faults of the chaos campaign: which one, in which step, at what moment (all drawn from a run's seed),
and the injector that does it to a running pulumi command."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from psycopg import sql

from bench import chaos_setup
from fkguard.catalog import TIERS
from fkguard.stack.settings import ConnectionSettings

KINDS = ("kill-pulumi", "kill-language-host", "kill-provider", "terminate-sessions", "restart-postgres",
         "lock-held", "timeout-validate", "timeout-index")
STEPS = ("add", "validate", "rollback")
FIXED_STEP = {"timeout-validate": "validate", "timeout-index": "add"}  # the step whose statements they cut short
# What each kill looks for among the pulumi command's descendants (its own pid is pulumi's: the guard execs it).
TARGET = {"kill-language-host": "pulumi-language-python-exec", "kill-provider": "-m pulumi.dynamic"}
LOCK_BUDGET_S = 3.0  # fkguard:lockRetryBudget of the campaign's stack (chaos_setup)
TERMINATE = ("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
             "WHERE application_name LIKE 'fkguard%' AND pid <> pg_backend_pid()")


@dataclass(frozen=True)
class Fault:
    kind: str
    step: str
    at: float  # the moment, as a fraction of the step's usual duration
    hold_s: float = 0.0  # lock-held: how long the lock is held
    table: str = ""  # lock-held: the table locked
    timeout_ms: int = 0  # timeout-*: fkguard:statementTimeout for the step


@dataclass(frozen=True)
class RunPlan:
    seed: int
    rollback_tier: str | None  # the tier rolled back after validating (it and every later tier), or none
    fault: Fault

    @property
    def steps(self) -> tuple[str, ...]:
        return ("add", "validate", "rollback") if self.rollback_tier else ("add", "validate")


def plan(seed: int, kinds: tuple[str, ...], keys: list[tuple[str, str, str]]) -> RunPlan:
    """Everything a run does differently, drawn from its seed alone: the seed reproduces the run. `keys` are the
    catalog's (tier, table, referenced table): a held lock is on a table of the faulted step."""
    rng = random.Random(seed)
    rollback = rng.choice(TIERS) if rng.random() < 1 / 3 else None
    kind = rng.choice(kinds)
    steps = ("add", "validate", "rollback") if rollback else ("add", "validate")
    step = FIXED_STEP.get(kind) or rng.choice(steps)
    touched = sorted({t for tier, *tables in keys for t in tables
                      if step != "rollback" or TIERS.index(tier) >= TIERS.index(str(rollback))})
    fault = Fault(kind, step, at=rng.uniform(0.05, 0.9), hold_s=round(rng.uniform(0.5, 2.0) * LOCK_BUDGET_S, 2),
                  table=rng.choice(touched), timeout_ms=rng.randint(1, 8))
    return RunPlan(seed, rollback, fault)


def descendants(pid: int) -> dict[int, str]:
    """pid -> command line of every live process below pid."""
    children: dict[int, list[int]] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] in ("Z", "X"):
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found[child] = commands.get(child, "")
            todo.append(child)
    return found


@dataclass(eq=False)
class Injector(threading.Thread):
    """Does the fault to `process` (a running pulumi) at its moment; `fired` says whether it found its target."""

    fault: Fault
    process: subprocess.Popen
    conn: ConnectionSettings
    delay_s: float
    fired: str = ""  # what was done, "" when the command ended first
    killed_pulumi: bool = False
    holder: threading.Thread | None = None
    _done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        super().__init__(daemon=True)

    def run(self) -> None:
        if self._wait(self.delay_s):
            return
        kind = self.fault.kind
        if kind == "kill-pulumi":
            self._kill(self.process.pid, "pulumi")
            self.killed_pulumi = bool(self.fired)
        elif kind in TARGET:
            while not self.fired and not self._wait(0.05):
                found = [pid for pid, command in descendants(self.process.pid).items() if TARGET[kind] in command]
                for pid in found:
                    self._kill(pid, kind.removeprefix("kill-"))
        elif kind == "terminate-sessions":
            while not self.fired and not self._wait(0.05):
                with self.conn.connect(application_name="chaos") as db:
                    ended = db.execute(TERMINATE).fetchone()[0]
                self.fired = f"{ended} fkguard sessions terminated" if ended else ""
        elif kind == "restart-postgres":
            chaos_setup.pg("stop")
            chaos_setup.pg("start")
            self.fired = "PostgreSQL stopped (fast) and started"
        elif kind == "lock-held":
            self.holder = LockHolder(self.conn, self.fault.table, self.fault.hold_s)
            self.holder.start()
            self.fired = f"SHARE UPDATE EXCLUSIVE on {self.fault.table} held {self.fault.hold_s} s"

    def _wait(self, seconds: float) -> bool:
        """Sleep; True when the command ended meanwhile (nothing left to do it to)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return True
            time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
        return self.process.poll() is not None

    def _kill(self, pid: int, what: str) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            self.fired = f"SIGKILL to {what} (pid {pid})"

    def cause_gone(self) -> None:
        """Wait for what the fault left running (a lock holder) to end: the recovery starts after it."""
        self.join(60)
        if self.holder is not None:
            self.holder.join(60)


@dataclass(eq=False)
class LockHolder(threading.Thread):
    """Another session holding a lock every fkguard operation on the table conflicts with (and the writer's
    inserts and updates do not), for longer or shorter than fkguard's lock budget."""

    conn: ConnectionSettings
    table: str
    hold_s: float

    def __post_init__(self) -> None:
        super().__init__(daemon=True)

    def run(self) -> None:
        with self.conn.connect(autocommit=False, application_name="chaos-lock-holder") as db:
            db.execute(sql.SQL("LOCK TABLE {} IN SHARE UPDATE EXCLUSIVE MODE").format(
                sql.Identifier(*self.table.split(".", 1))))
            time.sleep(self.hold_s)
            db.rollback()
