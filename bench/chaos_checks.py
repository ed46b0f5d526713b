"""What a chaos run must end with, whatever its fault: each key the same in pg_constraint, in the stack's
state and in the catalog's goal (less what the run rolled back); no INVALID index, and every index the schema
did not have is one fkguard built and records; no committed writer row lost and no orphan let in; no pending
operation or lock in the stack; no process of the run left."""

from __future__ import annotations

import json
import time

from bench import chaos_setup
from bench.chaos_writer import ChaosWriter, lost
from fkguard.catalog import TIERS
from fkguard.introspect import BUILT_BY_FKGUARD
from fkguard_testing import processes

SUPPORTING_INDEX = "SupportingIndex"
LANGUAGE_HOST = "/pulumi-language-python "  # pulumi's own (Go), not the program it runs


def expected_state(row: dict, rollback_tier: str | None) -> str:
    """A rollback takes its tier and every later one (they depend on its gate) until the next up."""
    if rollback_tier and TIERS.index(row["tier"]) >= TIERS.index(rollback_tier):
        return "absent"
    return row["config"]


def constraints(world: chaos_setup.World, rollback_tier: str | None) -> list[str]:
    status = world.user.fkguard("status", "-s", chaos_setup.STACK, "--json", check=False)
    if status.returncode != 0:
        return [f"fkguard status failed: {(status.stderr.strip().splitlines() or ['?'])[-1]}"]
    problems = []
    for row in json.loads(status.stdout):
        want = expected_state(row, rollback_tier)
        if not row["database"] == row["stack"] == want or row["differs"]:
            problems.append(f"{row['constraint']}: database {row['database']}, stack {row['stack']}, goal {want}"
                            + (f", differs: {row['differs']}" if row["differs"] else ""))
    return problems


def stack(world: chaos_setup.World, exported: dict) -> list[str]:
    problems = []
    pending = exported["deployment"].get("pending_operations") or []
    if pending:
        problems.append(f"{len(pending)} pending operations in the stack: "
                        + ", ".join(f"{p['type']} {p['resource']['urn'].rsplit('::', 1)[1]}" for p in pending))
    if chaos_setup.locked(world.user.root):
        problems.append("the stack is still locked")
    return problems


def indexes(world: chaos_setup.World, exported: dict) -> list[str]:
    recorded = {r.get("id") for r in exported["deployment"].get("resources") or []
                if r["type"].endswith(f":{SUPPORTING_INDEX}")}
    with world.conn.connect() as db:
        found = chaos_setup.indexes(db)
    problems = [f"INVALID index {name}" for name, (valid, _, _) in found.items() if not valid]
    extra = {name: comment for name, (_, comment, attached) in found.items()
             if name not in world.baseline_indexes and not attached}
    problems += [f"index {name} is not marked as fkguard's: nothing will ever drop it"
                 for name, comment in extra.items() if not (comment or "").startswith(BUILT_BY_FKGUARD)]
    problems += [f"index {name} is in the database, not in the stack" for name in sorted(set(extra) - recorded)]
    problems += [f"index {name} is in the stack, not in the database" for name in sorted(recorded - set(extra))]
    return problems


def writes(world: chaos_setup.World, writer: ChaosWriter) -> list[str]:
    with world.conn.connect() as db:
        missing = lost(db, writer)
    problems = [f"{len(missing)} committed writer rows lost (e.g. {missing[0]})"] if missing else []
    return problems + writer.admitted + ([writer.failure] if writer.failure else [])


def orphans(world: chaos_setup.World) -> list[str]:
    audit = world.user.fkguard("audit", "-s", chaos_setup.STACK, "--json", check=False)
    if audit.returncode == 0:
        return []
    try:
        found = json.loads(audit.stdout)
    except ValueError:
        return [f"fkguard audit failed: {(audit.stderr.strip().splitlines() or ['?'])[-1]}"]
    return [f"{found['orphans']} orphans after the run"]


def after_a_kill(world: chaos_setup.World, grace_s: float = 10.0) -> tuple[list[str], list[str]]:
    """What a killed pulumi left: fkguard's provider, pack and program end by themselves once the engine is gone
    (fkguard.stack.engine); pulumi's language host waits for its own health check (5 minutes), and the recovery
    ends it (docs/recovery.md). Returns (language hosts killed, other processes that outlived the grace)."""
    deadline = time.monotonic() + grace_s
    while any(LANGUAGE_HOST not in c for c in processes.running_in(world.user.root).values()) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    left = processes.reap(world.user.root, grace=0)
    hosts = [f"pid {pid} {c[:100]}" for pid, c in left.items() if LANGUAGE_HOST in c]
    others = [f"process outlived its killed pulumi by {grace_s:.0f} s: pid {pid} {c[:100]}"
              for pid, c in left.items() if LANGUAGE_HOST not in c]
    return hosts, others


def leftovers(world: chaos_setup.World) -> list[str]:
    """Everything pulumi starts runs in the project copy: what still does once the run is over outlived it."""
    left = processes.reap(world.user.root, grace=10)
    return [f"process left: pid {pid} {command[:120]}" for pid, command in left.items()]


def all_problems(world: chaos_setup.World, writer: ChaosWriter, rollback_tier: str | None) -> list[str]:
    exported = chaos_setup.stack_json(world)
    return [*leftovers(world), *constraints(world, rollback_tier), *stack(world, exported),
            *indexes(world, exported), *writes(world, writer), *orphans(world)]
