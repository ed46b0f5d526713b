"""Orphans: rows whose key has no parent, found with the very anti-join PostgreSQL runs to validate
a foreign key (RI_Initial_Check in ri_triggers.c), so this count and VALIDATE never disagree.

  SELECT … FROM ONLY fk LEFT JOIN ONLY pk ON pk.r1 = fk.c1 [AND …]
  WHERE pk.r1 IS NULL AND (fk.c1 IS NOT NULL AND …)   -- MATCH SIMPLE: any NULL column exempts the row
                      AND (fk.c1 IS NOT NULL OR …)    -- MATCH FULL: only an all-NULL key is exempt
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
from psycopg import sql

from fkguard.catalog import ForeignKey, QualifiedName


def _relation(conn: psycopg.Connection, name: QualifiedName) -> sql.Composed:
    """ONLY for a plain table, as PostgreSQL does; a partitioned table must include its partitions."""
    row = conn.execute(
        "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s",
        (name.schema, name.name),
    ).fetchone()
    only = sql.SQL("ONLY ") if row is None or row[0] != "p" else sql.SQL("")
    return sql.SQL("{}{}").format(only, sql.Identifier(name.schema, name.name))


def _anti_join(conn: psycopg.Connection, fk: ForeignKey, select: sql.Composable) -> sql.Composed:
    join = sql.SQL(" AND ").join(
        sql.SQL("pk.{} = fk.{}").format(sql.Identifier(r), sql.Identifier(c))
        for c, r in zip(fk.columns, fk.referenced_columns, strict=True)
    )
    not_null = sql.SQL(" OR " if fk.match == "FULL" else " AND ").join(
        sql.SQL("fk.{} IS NOT NULL").format(sql.Identifier(c)) for c in fk.columns
    )
    return sql.SQL("SELECT {select} FROM {fk_table} fk LEFT JOIN {pk_table} pk ON {join} "
                   "WHERE pk.{first} IS NULL AND ({not_null})").format(
        select=select, fk_table=_relation(conn, fk.table), pk_table=_relation(conn, fk.references), join=join,
        first=sql.Identifier(fk.referenced_columns[0]), not_null=not_null,
    )


def orphan_query(conn: psycopg.Connection, fk: ForeignKey, columns: tuple[str, ...] = ()) -> sql.Composed:
    """The orphan rows' key columns (and any extra columns asked for)."""
    wanted = list(dict.fromkeys([*fk.columns, *columns]))
    return _anti_join(conn, fk, sql.SQL(", ").join(sql.SQL("fk.{}").format(sql.Identifier(c)) for c in wanted))


# RI_Initial_Check runs its anti-join with work_mem = maintenance_work_mem and hash_mem_multiplier = 1;
# so does the audit, or on a big table its hash join would spill to disk where VALIDATE's does not.
_AS_VALIDATE_DOES = ("SELECT set_config('work_mem', current_setting('maintenance_work_mem'), true), "
                     "set_config('hash_mem_multiplier', '1', true)")


def count_orphans(conn: psycopg.Connection, fk: ForeignKey) -> int:
    with conn.transaction():
        conn.execute(_AS_VALIDATE_DOES)
        return conn.execute(_anti_join(conn, fk, sql.SQL("count(*)"))).fetchone()[0]


def sample_orphan_keys(conn: psycopg.Connection, fk: ForeignKey, limit: int = 5,
                       columns: tuple[str, ...] = ()) -> list[tuple]:
    """The first few orphans: their key columns, then any extra columns asked for."""
    query = sql.SQL("{} LIMIT {}").format(orphan_query(conn, fk, columns), sql.Literal(limit))
    return [tuple(row) for row in conn.execute(query)]


def stream_orphans(conn: psycopg.Connection, fk: ForeignKey, columns: tuple[str, ...] = (),
                   batch: int = 1000) -> Iterator[tuple]:
    """Every orphan row, through a server-side cursor: memory stays flat however many there are."""
    with conn.transaction(), conn.cursor(name=f"fkguard_orphans_{abs(hash(fk.name))}") as cur:
        cur.itersize = batch
        cur.execute(orphan_query(conn, fk, columns))
        yield from (tuple(row) for row in cur)


def describe_keys(fk: ForeignKey, keys: list[tuple]) -> str:
    shown = ", ".join(
        "(" + ", ".join(f"{c}={v!r}" for c, v in zip(fk.columns, key, strict=True)) + ")" if len(fk.columns) > 1
        else f"{fk.columns[0]}={key[0]!r}"
        for key in keys
    )
    return shown or "none"
