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

from context import StackContext, fkguard_policy
from pulumi_policy import EnforcementLevel

from fkguard import column_types, ddl, live
from fkguard.catalog import ForeignKey

NAME = "column-types-match"


def check(fk: ForeignKey, _props: Mapping[str, Any], ctx: StackContext, _config: Mapping[str, Any]) -> list[str]:
    messages = []
    with ctx.connect() as conn:
        if not (live.table_exists(conn, fk.table) and live.table_exists(conn, fk.references)):
            return []
        for pair in column_types.pairings(conn, fk):
            if pair.blocking:
                fix = ddl.alter_column_type(fk.table, pair.column, pair.theirs).as_string(conn)
                messages.append(
                    f"{fk.name}: {fk.table}.{pair.column} is {pair.mine} but {fk.references}.{pair.referenced} is "
                    f"{pair.theirs}: {pair.reason}. Instead, align them: {fix}; (this rewrites the table: plan a "
                    f"window for it)")
    return messages


POLICY = fkguard_policy(
    NAME, "Referencing columns have a type PostgreSQL can compare with the referenced key through its index.",
    EnforcementLevel.MANDATORY, check,
)
