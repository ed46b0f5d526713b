"""Each catalog constraint of a stack in three places: the database, the stack's state and its config."""

from __future__ import annotations

from typing import Any

from fkguard import rollout
from fkguard.desired import desired, observed
from fkguard.stack import state as stackstate
from fkguard.stack.context import StackContext


def constraints(context: StackContext) -> list[dict[str, Any]]:
    """One row per catalog key, in catalog order: `fkguard status --json` prints exactly these."""
    recorded = stackstate.recorded_constraints(context.stack, context.project_dir)
    rows = []
    with context.session() as conn:
        for fk in context.catalog:
            found = rollout.read(conn, fk)  # a partitioned table's leaves too (fkguard.partitions)
            in_db = observed(found)
            in_stack = recorded[fk.qualified].state if fk.qualified in recorded else "absent"
            goal = desired(fk, context.options, context.debts.accepted(fk, context.stack))
            # Validation state aside, is it the constraint the catalog describes? (a hand-made DEFERRABLE, say)
            differs = found.differences(fk) if found is not None else []
            rows.append({"constraint": fk.label, "tier": fk.tier, "database": in_db, "stack": in_stack,
                         "config": goal.state, "kept_not_valid": goal.why or None,
                         "drift": in_db != in_stack or bool(differs), "differs": differs,
                         "waivers": [{"policy": w.policy, "reason": w.reason, "by": w.by} for w in fk.waivers]})
    return rows
