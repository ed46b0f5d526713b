"""constraint-name: no other kind of constraint of the table already has the foreign key's name.

ADD CONSTRAINT would fail mid-rollout on the name, after earlier constraints went in. Names over
63 bytes (which PostgreSQL would cut, making two long names one) and names used twice in the
catalog never reach the pack: the catalog refuses both (fkguard.catalog).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context import PolicyFinding, Requires, StackContext, fkguard_policy, shared
from pulumi_policy import EnforcementLevel

from fkguard import introspect
from fkguard.catalog import ForeignKey

NAME = "constraint-name"


def check(fk: ForeignKey, _properties: Mapping[str, Any], ctx: StackContext, _config: Mapping[str, Any]) -> list[PolicyFinding]:
    with ctx.connect() as conn:
        found = shared(ctx, conn, introspect.read_constraint, fk.table, fk.name)
    if found is not None and found.contype != "f":
        return [PolicyFinding(f"{fk.table} already has a constraint named {fk.name} that is not a foreign key "
                        f"({found.definition})", "give the foreign key another name in its catalog entry")]
    return []


POLICY = fkguard_policy(
    NAME, "No other constraint of the table has the foreign key's name.", EnforcementLevel.MANDATORY, check,
    requires=Requires(("table",), "so it has no constraints to compare"),
    instead_of="a name another constraint of the table already has", use="a distinct name in the catalog entry",
)
