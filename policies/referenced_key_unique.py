"""referenced-key-unique: the referenced columns carry a primary key or a unique constraint.

PostgreSQL refuses a foreign key to anything else; this says so at preview, with the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context import PolicyFinding, Requires, StackContext, fkguard_policy, preflight
from pulumi_policy import EnforcementLevel

from fkguard import ddl, problems
from fkguard.catalog import ForeignKey

NAME = "referenced-key-unique"


def check(fk: ForeignKey, properties: Mapping[str, Any], ctx: StackContext, _config: Mapping[str, Any]) -> list[PolicyFinding]:
    # The preflight asks the same question (PostgreSQL's refusal, KEY_NOT_UNIQUE); this policy adds the fix.
    if not any(p.code == problems.KEY_NOT_UNIQUE for p in preflight(ctx, fk, properties)):
        return []
    with ctx.connect() as conn:
        fix = ddl.add_unique(fk.references, fk.referenced_columns).as_string(conn)
    return [PolicyFinding(f"{fk.label}: {fk.references} ({', '.join(fk.referenced_columns)}) has no primary key or unique "
                    f"constraint, so PostgreSQL cannot reference it",
                    f"add one without blocking writes: {fix};")]


POLICY = fkguard_policy(
    NAME, "Referenced columns carry a primary key or unique constraint.", EnforcementLevel.MANDATORY, check,
    requires=Requires(("references",), "so it has no key to judge"),
    instead_of="referencing columns that are not a key", use="CREATE UNIQUE INDEX CONCURRENTLY on them, then the constraint",
)
