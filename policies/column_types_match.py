"""column-types-match: each referencing column has exactly its referenced column's type.

PostgreSQL accepts compatible types (integer referencing bigint, varchar referencing text), but
every check then casts, and the referenced index can go unused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context import StackContext, fkguard_policy
from pulumi_policy import EnforcementLevel

from fkguard import ddl, live
from fkguard.catalog import ForeignKey, QualifiedName

NAME = "column-types-match"

_TYPE = ("SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
         "WHERE a.attrelid = %s::regclass AND a.attname = %s AND NOT a.attisdropped")


def column_type(conn, table: QualifiedName, column: str) -> str | None:
    row = conn.execute(_TYPE, (ddl.table_ref(table).as_string(conn), column)).fetchone()
    return row[0] if row else None


def check(fk: ForeignKey, _props: Mapping[str, Any], ctx: StackContext, _config: Mapping[str, Any]) -> list[str]:
    messages = []
    with ctx.connect() as conn:
        if not (live.table_exists(conn, fk.table) and live.table_exists(conn, fk.references)):
            return []
        for column, referenced in zip(fk.columns, fk.referenced_columns, strict=True):
            mine, theirs = column_type(conn, fk.table, column), column_type(conn, fk.references, referenced)
            if mine and theirs and mine != theirs:
                fix = ddl.alter_column_type(fk.table, column, theirs).as_string(conn)
                messages.append(
                    f"{fk.name}: {fk.table}.{column} is {mine} but {fk.references}.{referenced} is {theirs}. "
                    f"Instead, align them: {fix}; (this rewrites the table: plan a window for it)")
    return messages


POLICY = fkguard_policy(
    NAME, "Referencing and referenced columns have the same type.", EnforcementLevel.MANDATORY, check,
)
