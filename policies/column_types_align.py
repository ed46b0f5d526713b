"""column-types-align (advisory): referencing and referenced columns of different but compatible
types (integer referencing bigint, varchar(64) referencing varchar(128), varchar referencing text).

PostgreSQL accepts these and both indexes serve the checks, so refusing them would force a table
rewrite for nothing; they still deserve a note: the referencing column may be too narrow for
future keys (integer against a bigint sequence overflows at 2^31).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context import NOTHING, PolicyFinding, StackContext, fkguard_policy, shared
from pulumi_policy import EnforcementLevel

from fkguard import column_types, ddl
from fkguard.catalog import ForeignKey

NAME = "column-types-align"


def _advice(conn, fk: ForeignKey, pair: column_types.Pairing) -> PolicyFinding:
    fix = ddl.alter_column_type(fk.table, pair.column, pair.theirs).as_string(conn)
    return PolicyFinding(f"{fk.label}: {fk.table}.{pair.column} is {pair.mine} and {fk.references}.{pair.referenced} is "
                   f"{pair.theirs}; allowed: {pair.reason}",
                   f"when a table rewrite is affordable, align them: {fix};")


def check(fk: ForeignKey, _properties: Mapping[str, Any], ctx: StackContext, _config: Mapping[str, Any]) -> list[PolicyFinding]:
    with ctx.connect() as conn:
        return [_advice(conn, fk, pair) for pair in shared(ctx, conn, column_types.pairings, fk)
                if pair.verdict in (column_types.ALIGNED, column_types.COMPATIBLE)]


POLICY = fkguard_policy(
    NAME, "Referencing and referenced columns have the same type (advice).", EnforcementLevel.ADVISORY, check,
    requires=NOTHING, instead_of="a referencing column narrower than the key it references",
    use="ALTER COLUMN ... TYPE <the referenced type> when a table rewrite is affordable",
)
