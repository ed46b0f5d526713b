"""safe-pattern: a foreign key is added NOT VALID in one deployment and validated in a later one.

Adding and validating in the same `pulumi up` leaves no time to watch the NOT VALID constraint
checking new writes, and puts the validating scan wherever the deployment happens to run.
Mandatory in production (policy-config.production.json), advisory elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context import PolicyFinding, Requires, StackContext, fkguard_policy
from pulumi_policy import EnforcementLevel

from fkguard import rollout
from fkguard.catalog import ForeignKey

NAME = "safe-pattern"


def check(fk: ForeignKey, props: Mapping[str, Any], ctx: StackContext, _config: Mapping[str, Any]) -> list[PolicyFinding]:
    if not props.get("validated"):
        return []
    with ctx.connect() as conn:
        # rollout.read: a partitioned table's NOT VALID leaves count as added (fkguard.partitions)
        if rollout.read(conn, fk) is not None:
            return []
    return [PolicyFinding(f"{fk.label} would be added and validated in the same deployment",
                    f"add it NOT VALID first (leave tier {fk.tier} out of fkguard:validateTiers), run pulumi up, "
                    f"then add the tier to fkguard:validateTiers and run pulumi up again")]


POLICY = fkguard_policy(
    NAME, "A foreign key is created NOT VALID and validated in a later deployment.",
    EnforcementLevel.MANDATORY, check, requires=Requires(("table",), "so nothing can be added to it yet"),
    instead_of="adding and validating a constraint in one deployment",
    use="two deployments: the tier in fkguard:addTiers first, in fkguard:validateTiers the next time",
)
