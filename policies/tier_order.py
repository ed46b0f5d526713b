"""tier-order: tiers are added and validated in the plan's order, critical first.

A stack that adds or validates a tier while an earlier one is left out has its priorities upside
down: the runtime tables would be protected before the workflow core. When a catalog is split by tier
across stacks of one database (fkguard:tiers), the earlier tiers are other stacks': a tier is validated
only once their keys (of this stack's schemas) are validated in the database.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from context import NOTHING, PolicyFinding, StackContext, fkguard_policy
from pulumi_policy import EnforcementLevel

from fkguard import debt, introspect
from fkguard.catalog import TIERS, ForeignKey

NAME = "tier-order"
# (stack, tier) whose earlier tiers, owned by other stacks, were found validated: a validated key stays so.
_validated_before: set[tuple[str, str]] = set()
_lock = threading.Lock()


def _gap(chosen: tuple[str, ...], owned: tuple[str, ...], tier: str) -> list[str]:
    return [t for t in TIERS[: TIERS.index(tier)] if t in owned and t not in chosen]


def check(fk: ForeignKey, props: Mapping[str, Any], ctx: StackContext, _config: Mapping[str, Any]) -> list[PolicyFinding]:
    owned = ctx.options.selection.tiers
    for key, chosen, wanted in (("addTiers", ctx.options.add_tiers, True),
                                ("validateTiers", ctx.options.validate_tiers, bool(props.get("validated")))):
        missing = _gap(chosen, owned, fk.tier) if wanted else []
        if missing:
            fixed = ",".join(t for t in TIERS if t in chosen or t in missing)
            return [PolicyFinding(f"{fk.label} is in tier {fk.tier}, which fkguard:{key} lists while the earlier "
                            f"{', '.join(missing)} is left out",
                            f"follow the plan's order: pulumi config set fkguard:{key} {fixed} -s {ctx.stack}")]
    return _earlier_elsewhere(fk, ctx) if props.get("validated") else []


def _earlier_elsewhere(fk: ForeignKey, ctx: StackContext) -> list[PolicyFinding]:
    """A tier validated before the earlier tiers that other stacks own (fkguard:tiers) are validated there."""
    selection = ctx.options.selection
    foreign = selection.foreign_tiers_before(fk.tier)
    if not foreign or (ctx.stack, fk.tier) in _validated_before:
        return []
    # Keys meant to stay NOT VALID (validated: false, or orphans accepted as debt on any stack) do not hold it back.
    waiting = [k for k in ctx.others if k.tier in foreign and selection.in_scope(k) and k.validate
               and not any(debt.covers(entry, k) for entry in ctx.debts.entries)]
    with ctx.connect() as conn:
        found = introspect.constraint_validation(conn, [(k.table, k.name) for k in waiting])
    behind = [k for k in waiting if not found.get((k.table, k.name))]
    if not behind:
        with _lock:
            _validated_before.add((ctx.stack, fk.tier))
        return []
    named = ", ".join(f"{k.label} ({'not valid' if (k.table, k.name) in found else 'absent'})" for k in behind[:3])
    more = f" and {len(behind) - 3} more" if len(behind) > 3 else ""
    return [PolicyFinding(
        f"{fk.label} is in tier {fk.tier}, validated while {len(behind)} keys of the earlier {', '.join(foreign)}, "
        f"which other stacks of this database own (fkguard:tiers), are not validated yet: {named}{more}",
        f"validate the earlier tiers first from the stacks that own them (fkguard fleet runs them in earlier waves), "
        f"or leave {fk.tier} out of fkguard:validateTiers of stack {ctx.stack} until then")]


POLICY = fkguard_policy(
    NAME, "Tiers are added and validated in the plan's order.", EnforcementLevel.MANDATORY, check,
    requires=NOTHING, instead_of="adding or validating a tier while an earlier one is left out",
    use="the plan's order in fkguard:addTiers and fkguard:validateTiers, critical first",
)
