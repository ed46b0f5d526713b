"""tier-order: tiers are added and validated in the plan's order, critical first.

A stack that adds or validates a tier while an earlier one is left out has its priorities upside
down: the runtime tables would be protected before the workflow core.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context import NOTHING, PolicyFinding, StackContext, fkguard_policy
from pulumi_policy import EnforcementLevel

from fkguard.catalog import TIERS, ForeignKey

NAME = "tier-order"


def _gap(chosen: tuple[str, ...], tier: str) -> list[str]:
    return [t for t in TIERS[: TIERS.index(tier)] if t not in chosen]


def check(fk: ForeignKey, props: Mapping[str, Any], ctx: StackContext, _config: Mapping[str, Any]) -> list[PolicyFinding]:
    for key, chosen, wanted in (("addTiers", ctx.options.add_tiers, True),
                                ("validateTiers", ctx.options.validate_tiers, bool(props.get("validated")))):
        missing = _gap(chosen, fk.tier) if wanted else []
        if missing:
            fixed = ",".join(t for t in TIERS if t in chosen or t in missing)
            return [PolicyFinding(f"{fk.label} is in tier {fk.tier}, which fkguard:{key} lists while the earlier "
                            f"{', '.join(missing)} is left out",
                            f"follow the plan's order: pulumi config set fkguard:{key} {fixed} -s {ctx.stack}")]
    return []


POLICY = fkguard_policy(
    NAME, "Tiers are added and validated in the plan's order.", EnforcementLevel.MANDATORY, check,
    requires=NOTHING, instead_of="adding or validating a tier while an earlier one is left out",
    use="the plan's order in fkguard:addTiers and fkguard:validateTiers, critical first",
)
