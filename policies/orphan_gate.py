"""orphan-gate: no foreign key goes in while rows without a parent exist (the plan's Phase 1 rule).

Orphans are counted with PostgreSQL's own validation predicate (fkguard.orphans). A constraint
already validated in the database is proven clean and costs no scan. Accepted debt, or the
per-stack setting allowNotValidOverOrphans, lets a constraint in NOT VALID (new writes are then
checked), but nothing lets one be validated over orphans: PostgreSQL would refuse anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context import PolicyFinding, Requires, StackContext, fkguard_policy, shared
from pulumi_policy import EnforcementLevel, PolicyConfigSchema

from fkguard import introspect, orphans
from fkguard.catalog import ForeignKey

NAME = "orphan-gate"


def check(fk: ForeignKey, props: Mapping[str, Any], ctx: StackContext, config: Mapping[str, Any]) -> list[PolicyFinding]:
    with ctx.connect() as conn:
        found = shared(ctx, conn, introspect.read_constraint, fk.table, fk.name)
        if found is not None and found.validated and found.same_as(fk):
            return []
        count = orphans.count_orphans(conn, fk)
        if count == 0:
            return []
        keys = orphans.sample_orphan_keys(conn, fk, 3)
        sample = orphans.describe_keys(fk, keys)
    problem = (f"{fk.label}: {count} rows of {fk.table} have no parent in {fk.references} (e.g. {sample})")
    fix = (f"fkguard audit -s {ctx.stack}, then fkguard remediate -s {ctx.stack} --constraint {fk.label} "
           f"--action delete|nullify|accept")
    accepted = ctx.debts.accepted(fk, ctx.stack)
    # What fleet shows of the refusal (fkguard.policy_findings), besides the message people read.
    data = {"rows": count, "columns": list(fk.columns), "sample": [list(key) for key in keys],
            "accepted": accepted.orphans if accepted else 0}
    if props.get("validated"):
        why = " (accepted as debt, so it can be added NOT VALID but never validated)" if accepted else ""
        return [PolicyFinding(f"{problem}{why}: VALIDATE would fail",
                              f"remediate them ({fix}), or leave its tier out of fkguard:validateTiers", data)]
    if ctx.debts.standing(fk, ctx.stack, count).covering:
        return []
    if config.get("allowNotValidOverOrphans"):
        return []
    over = f"; {accepted.orphans} are accepted as debt, {count - accepted.orphans} more are not" if accepted else ""
    return [PolicyFinding(f"{problem}{over}: adding it would hide them behind a constraint that looks enforced",
                          f"remediate them first: {fix}", data)]


POLICY = fkguard_policy(
    NAME, "No foreign key is added or validated while rows without a parent exist.",
    EnforcementLevel.MANDATORY, check, requires=Requires(("table", "references"), "so it has no rows to count"),
    instead_of="adding or validating a constraint over rows without a parent",
    use="fkguard audit, then fkguard remediate --action delete|nullify|accept (every removed row is kept)",
    config_schema=PolicyConfigSchema({"allowNotValidOverOrphans": {
        "type": "boolean", "default": False,
        "description": "Let a constraint be added NOT VALID over orphans (new writes are then checked); "
                       "validation stays blocked."}}),
)
