"""`fkguard fleet preview|up|status -f fleet.yaml`: one rollout across many databases, one stack each.

The fleet file lists the stacks in waves, run in order; within a wave, `parallel` stacks at a time:

    parallel: 2                  # stacks at a time in each wave (default 1); fkguard fleet --parallel overrides
    waves:
      - name: canary
        stacks: [tenant-eu-1]    # stack names, as pulumi stack ls lists them
      - name: rest
        parallel: 4              # this wave's own bound
        stacks: ["tenant-*"]     # a glob over pulumi stack ls; the stacks of earlier waves are left out

A wave starts only when every stack of the one before it succeeded. The first failure stops the stacks
not started yet (they stay untouched); those already running finish. Everything a stack needs (its
config, its catalog, its passphrase, its policy-config.<stack>.json) is checked for every stack of every
wave before the first one starts, so a mistake in the last wave stops nothing half-way; so are the stacks that
split one database's catalog (fkguard.fleet_split): disjoint parts, a tier validated after the earlier tiers' stacks.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fkguard import fleet_split
from fkguard.errors import EXPECTED, describe
from fkguard.fleet_stack import FAILED, NOT_STARTED, OK, FleetError, StackResult, policy_config, run
from fkguard.stack import context as stack_context
from fkguard.stack import secrets as stack_secrets
from fkguard.stack import state as stackstate
from fkguard.stack.context import StackContext

FILE_KEYS = ("parallel", "waves")
WAVE_KEYS = ("name", "stacks", "parallel")
COMMANDS = ("preview", "up", "status")


@dataclass(frozen=True)
class Wave:
    name: str
    stacks: tuple[str, ...]  # names and glob patterns, in the file's order
    parallel: int


def _keys(found: dict, known: Sequence[str], where: str) -> None:
    for key in found:
        if key not in known:
            hint = difflib.get_close_matches(str(key), list(known), n=1)
            raise FleetError(f"{where}: unknown key {key!r}: " + (f"did you mean {hint[0]!r}?" if hint
                                                                   else f"use {', '.join(known)}"))


def check_parallel(value: Any, where: str) -> int:
    """A bound of stacks at a time, from the file or --parallel; refused unless a whole number of 1 or more."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FleetError(f"{where}: parallel must be a whole number of stacks, 1 or more, got {value!r}")
    return value


def load(path: Path) -> list[Wave]:
    """The fleet file's waves; anything it does not say clearly is refused with one line."""
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise FleetError(f"cannot read the fleet file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise FleetError(f"{path} is not valid YAML: {describe(exc)}") from None
    if not isinstance(document, dict) or not isinstance(document.get("waves"), list) or not document["waves"]:
        raise FleetError(f"{path}: expected a mapping with a list of waves (waves: [{{name: canary, stacks: [...]}}])")
    _keys(document, FILE_KEYS, str(path))
    default = check_parallel(document.get("parallel", 1), str(path))
    waves: list[Wave] = []
    for number, entry in enumerate(document["waves"], 1):
        where = f"{path} wave {number}"
        if not isinstance(entry, dict):
            raise FleetError(f"{where}: expected a mapping with name and stacks, got {entry!r}")
        _keys(entry, WAVE_KEYS, where)
        name = str(entry.get("name") or f"wave-{number}")
        stacks = entry.get("stacks")
        if isinstance(stacks, str):
            stacks = [stacks]
        if not isinstance(stacks, list) or not stacks or not all(isinstance(s, str) and s.strip() for s in stacks):
            raise FleetError(f"{where} ({name}): stacks must be a list of stack names or patterns, got {stacks!r}")
        if name in {w.name for w in waves}:
            raise FleetError(f"{where}: a wave named {name!r} comes earlier already; give each wave its own name")
        waves.append(Wave(name, tuple(s.strip() for s in stacks), check_parallel(entry.get("parallel", default), where)))
    return waves


def _is_pattern(text: str) -> bool:
    return any(c in text for c in "*?[")


def resolve(waves: Sequence[Wave], existing: Sequence[str]) -> list[tuple[Wave, list[str]]]:
    """Each wave's stacks: a name must exist, a pattern must match some stack no earlier wave took, and no
    stack is named twice."""
    by_short = {stack_secrets.short_name(s): s for s in existing}
    taken: dict[str, str] = {}  # stack -> its wave
    plan: list[tuple[Wave, list[str]]] = []
    for wave in waves:
        chosen: list[str] = []
        for item in wave.stacks:
            if _is_pattern(item):
                matches = [s for short, s in sorted(by_short.items()) if fnmatch.fnmatchcase(short, item)
                           and s not in taken and s not in chosen]
                if not matches:
                    raise FleetError(f"wave {wave.name}: {item!r} matches no stack that an earlier wave did not take "
                                     f"(pulumi stack ls lists {len(existing)}); fix the pattern")
                chosen += matches
                continue
            stack = by_short.get(stack_secrets.short_name(item))
            if stack is None:
                hint = difflib.get_close_matches(item, list(by_short), n=1)
                raise FleetError(f"wave {wave.name}: no stack named {item!r}" + (f"; did you mean {hint[0]!r}?" if hint
                                 else "; pulumi stack ls lists the stacks, fkguard init creates one"))
            if stack in taken or stack in chosen:
                raise FleetError(f"wave {wave.name}: stack {item!r} is in wave {taken.get(stack, wave.name)} already; "
                                 f"list each stack once")
            chosen.append(stack)
        taken.update({s: wave.name for s in chosen})
        plan.append((wave, chosen))
    return plan


def stacks_of(project_dir: Path) -> list[str]:
    """Every stack of the project's backend, as pulumi stack ls names them."""
    listed = stackstate.run_pulumi(["stack", "ls", "--json"], project_dir)
    return [entry["name"] for entry in json.loads(listed.stdout or "[]")]


def _bounded(items: Sequence[Any], parallel: int, work: Callable[[Any], Any]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(work, items))


def preflight(stacks: Sequence[str], project_dir: Path, parallel: int, command: str,
              plan: Sequence[tuple[Wave, list[str]]] = ()) -> dict[str, StackContext]:
    """Each stack as the program will see it (its config, catalog and secrets: one line on the first that
    fails), and for preview and up its policy config, and the plan's stacks that split one database
    (fkguard.fleet_split); nothing has run yet."""
    def check(stack: str) -> StackContext | FleetError:
        try:
            stack_secrets.env_for(stack, None, project_dir)
            if command != "status":
                policy_config(stack, project_dir)
            return stack_context.for_stack(stack, project_dir, application_name="fkguard-fleet")
        except FleetError as exc:
            return exc
        except EXPECTED as exc:  # every refusal is collected, then the first one is raised
            text = describe(exc)  # most already name the stack
            return FleetError(text if repr(stack) in text else f"stack {stack!r}: {text}")
    checked = dict(zip(stacks, _bounded(stacks, parallel, check), strict=True))
    refused = [c for c in checked.values() if isinstance(c, FleetError)]
    if refused:
        more = f" ({len(refused) - 1} more stacks refused)" if len(refused) > 1 else ""
        raise FleetError(f"{refused[0]}{more}; nothing ran")
    contexts = {s: c for s, c in checked.items() if isinstance(c, StackContext)}
    if plan and command != "status":
        try:  # disjoint parts of the catalog, tiers validated in wave order
            fleet_split.check(plan, contexts, lambda items, work: _bounded(items, parallel, work))
        except FleetError as exc:
            raise FleetError(f"{exc}; nothing ran") from None
    return contexts


@dataclass
class FleetOutcome:
    """What a preview or update of the fleet did: each stack's result, and how long it took."""

    command: str
    results: list[StackResult]
    seconds: float
    log_dir: Path | None = None
    checked_seconds: float = 0.0  # the preflight's part of `seconds`

    @property
    def ok(self) -> bool:
        return all(r.result == OK for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {"command": self.command, "ok": self.ok, "seconds": self.seconds, "checked_seconds": self.checked_seconds,
                "log_dir": str(self.log_dir) if self.log_dir else None, "stacks": [r.as_dict() for r in self.results]}


def roll(plan: Sequence[tuple[Wave, list[str]]], command: str, project_dir: Path, log_dir: Path | None = None,
         parallel: int | None = None, progress: Callable[[str], None] = lambda _: None) -> FleetOutcome:
    """Preview or update the plan's stacks, wave by wave, `parallel` (else each wave's own) at a time; each
    stack's output in log_dir (else a new temporary folder, made only once the stacks passed their checks)."""
    started = time.monotonic()
    stacks = [s for _, chosen in plan for s in chosen]
    widest = parallel or max(w.parallel for w, _ in plan)
    contexts = preflight(stacks, project_dir, widest, command, plan)
    checked = round(time.monotonic() - started, 2)
    results = {s: StackResult(s, wave.name, contexts[s].connection.describe()) for wave, chosen in plan for s in chosen}
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="fkguard-fleet-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()

    def one(stack: str) -> None:
        result = results[stack]
        if stop.is_set():  # a stack failed meanwhile: this one stays untouched
            return
        progress(f"fleet: {result.wave}: {stack} {command} started")
        log = log_dir / f"{stack_secrets.short_name(stack)}.log"
        try:
            run(result, command, project_dir, log)
        except Exception as exc:  # noqa: BLE001 (the other threads' stacks must still be reported; this one failed)
            result.result = FAILED
            result.error = describe(exc) if isinstance(exc, EXPECTED) else f"{type(exc).__name__}: {describe(exc)}"
            with log.open("a") as out:  # a bug's traceback, for its report
                traceback.print_exc(file=out)
        if result.result != OK:
            stop.set()  # before this worker takes the next stack, so the next one sees it
        progress(f"fleet: {result.wave}: {stack} {result.result} in {result.seconds} s"
                 + (f": {result.error}" if result.error else ""))

    for wave, chosen in plan:
        if stop.is_set():
            break
        progress(f"fleet: wave {wave.name}: {len(chosen)} stacks, {parallel or wave.parallel} at a time")
        _bounded(chosen, parallel or wave.parallel, one)
    return FleetOutcome(command, list(results.values()), round(time.monotonic() - started, 2), log_dir, checked)


@dataclass
class StackStatus:
    stack: str
    wave: str
    database: str
    validated: int  # in the database
    not_valid: int
    absent: int
    recorded: dict[str, int]  # in the stack's state: state -> constraints
    drift: list[str]  # constraints whose database state differs from the stack's
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "wave": self.wave, "database": self.database, "validated": self.validated,
                "not_valid": self.not_valid, "absent": self.absent, "in_state": self.recorded, "drift": self.drift,
                "error": self.error}


def _status_of(context: StackContext, wave: str) -> StackStatus:
    from fkguard import rollout
    from fkguard.desired import observed

    recorded = stackstate.recorded_constraints(context.stack, context.project_dir)
    in_db: dict[str, str] = {}
    in_state: dict[str, str] = {}
    with context.connection.connect(application_name=context.application_name) as conn:
        for fk in context.catalog:
            in_db[fk.label] = observed(rollout.read(conn, fk))
            in_state[fk.label] = recorded[fk.qualified].state if fk.qualified in recorded else "absent"
    counts = {s: sum(v == s for v in in_db.values()) for s in ("validated", "not valid", "absent")}
    states: dict[str, int] = {}
    for r in recorded.values():
        states[r.state] = states.get(r.state, 0) + 1
    return StackStatus(context.stack, wave, context.connection.describe(), counts["validated"], counts["not valid"],
                       counts["absent"], states, sorted(n for n in in_db if in_db[n] != in_state[n]))


def status(plan: Sequence[tuple[Wave, list[str]]], project_dir: Path, parallel: int | None = None) -> list[StackStatus]:
    """Every stack's constraints in its database and in its state; changes nothing, so no wave stops another."""
    stacks = [s for _, chosen in plan for s in chosen]
    waves = {s: wave.name for wave, chosen in plan for s in chosen}
    widest = parallel or max(w.parallel for w, _ in plan)
    contexts = preflight(stacks, project_dir, widest, "status")

    def one(stack: str) -> StackStatus:
        try:
            return _status_of(contexts[stack], waves[stack])
        except Exception as exc:  # noqa: BLE001 (one unreachable database must not hide the others)
            return StackStatus(stack, waves[stack], contexts[stack].connection.describe(), 0, 0, 0, {}, [],
                               describe(exc))
    return _bounded(stacks, widest, one)


def table(outcome: FleetOutcome) -> tuple[list[str], list[list[object]]]:
    """The summary's headers and rows (a preview says what each stack would do)."""
    verb = ("to add", "to validate") if outcome.command == "preview" else ("added", "validated")
    rows: list[list[object]] = [
        [r.wave, r.stack, r.database, r.result, r.added, r.validated,
         ", ".join(f"{name} {'?' if rows is None else rows}" for name, rows in r.orphans.items()),
         "" if r.seconds is None else f"{r.seconds:.1f}", r.error or ""] for r in outcome.results]
    return ["wave", "stack", "database", "result", *verb, "orphans blocking", "seconds", "error"], rows


def status_table(found: Sequence[StackStatus]) -> tuple[list[str], list[list[object]]]:
    rows: list[list[object]] = [
        [s.wave, s.stack, s.database, s.validated, s.not_valid, s.absent,
         ", ".join(f"{n} {k}" for k, n in sorted(s.recorded.items())) or "empty", ", ".join(s.drift), s.error or ""]
        for s in found]
    return ["wave", "stack", "database", "validated", "not valid", "absent", "in state", "drift", "error"], rows


def verdict(outcome: FleetOutcome) -> str:
    counts = {k: sum(r.result == k for r in outcome.results) for k in (OK, FAILED, NOT_STARTED)}
    return (f"fleet {outcome.command}: {counts[OK]} ok, {counts[FAILED]} failed, {counts[NOT_STARTED]} not started "
            f"of {len(outcome.results)} stacks in {outcome.seconds:.1f} s ({outcome.checked_seconds:.1f} s of it checking "
            f"them first; logs: {outcome.log_dir})")

