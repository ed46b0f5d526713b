"""column-types-match: each referencing column's type works with its referenced column's, as
PostgreSQL judges it (fkguard.column_types).

Refused: what PostgreSQL itself refuses, and what it accepts only by casting the referencing
column in every check (integer referencing numeric), since no index on that column can then
serve parent deletes. Compatible types (integer referencing bigint, varchar referencing text)
pass here; column-types-align mentions them as advice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context import NOTHING, PolicyFinding, StackContext, fkguard_policy, shared
from pulumi_policy import EnforcementLevel

from fkguard import column_types, ddl
from fkguard.catalog import ForeignKey

NAME = "column-types-match"


def _refusal(conn, fk: ForeignKey, pair: column_types.Pairing) -> PolicyFinding:
    fix = ddl.alter_column_type(fk.table, pair.column, pair.theirs).as_string(conn)
    return PolicyFinding(f"{fk.label}: {fk.table}.{pair.column} is {pair.mine} but {fk.references}.{pair.referenced} is "
                   f"{pair.theirs}: {pair.reason}",
                   f"align them: {fix}; (this rewrites the table: plan a window for it)")


def check(fk: ForeignKey, _properties: Mapping[str, Any], ctx: StackContext, _config: Mapping[str, Any]) -> list[PolicyFinding]:
    with ctx.connect() as conn:
        return [_refusal(conn, fk, pair) for pair in shared(ctx, conn, column_types.pairings, fk) if pair.blocking]


POLICY = fkguard_policy(
    NAME, "Referencing columns have a type PostgreSQL can compare with the referenced key through its index.",
    EnforcementLevel.MANDATORY, check, requires=NOTHING,
    instead_of="referencing a key of a type PostgreSQL cannot compare through its index",
    use="ALTER COLUMN ... TYPE <the referenced type> on the referencing column, in a window (it rewrites the table)",
)
