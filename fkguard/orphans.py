"""Orphans: rows whose key has no parent, found with the very anti-join PostgreSQL runs to validate
a foreign key (RI_Initial_Check in ri_triggers.c), so this count and VALIDATE never disagree.

  SELECT … FROM ONLY fk LEFT JOIN ONLY pk ON pk.r1 = fk.c1 [AND …]
  WHERE pk.r1 IS NULL AND (fk.c1 IS NOT NULL AND …)   -- MATCH SIMPLE: any NULL column exempts the row
                      AND (fk.c1 IS NOT NULL OR …)    -- MATCH FULL: only an all-NULL key is exempt
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import pq, sql
from psycopg.rows import RowFactory, tuple_row

from fkguard import ddl, introspect
from fkguard.catalog import ForeignKey, QualifiedName
from fkguard.query_row import one


def relation(conn: psycopg.Connection, name: QualifiedName) -> sql.Composed:
    """ONLY for a plain table, as PostgreSQL does; a partitioned table must include its partitions."""
    only = sql.SQL("") if introspect.relkind(conn, name) == "p" else sql.SQL("ONLY ")
    return sql.SQL("{}{}").format(only, ddl.table_ref(name))


def _join(fk: ForeignKey, columns: list[sql.Identifier]) -> sql.Composed:
    return sql.SQL(" AND ").join(
        sql.SQL("pk.{} = fk.{}").format(sql.Identifier(r), c) for c, r in zip(columns, fk.referenced_columns, strict=True)
    )


def _not_null(fk: ForeignKey) -> sql.Composed:
    return sql.SQL(" OR " if fk.match == "FULL" else " AND ").join(
        sql.SQL("fk.{} IS NOT NULL").format(sql.Identifier(c)) for c in fk.columns
    )


# Leads fkguard's own orphan counts, which the gate runs at every preview: fkguard monitor leaves them out of
# the application's statement latencies (pg_stat_statements keeps the text a statement was first seen with).
OWN_STATEMENT = "/* fkguard */"


def select_orphans(conn: psycopg.Connection, fk: ForeignKey, select: sql.Composable) -> sql.Composed:
    """Any select list over the orphan rows, the referencing table aliased fk (to_jsonb(fk) is the whole row)."""
    return sql.SQL(OWN_STATEMENT) + sql.SQL(" SELECT {select} FROM {fk_table} fk LEFT JOIN {pk_table} pk ON {join} "
                   "WHERE pk.{first} IS NULL AND ({not_null})").format(
        select=select, fk_table=relation(conn, fk.table), pk_table=relation(conn, fk.references),
        join=_join(fk, [sql.Identifier(c) for c in fk.columns]), first=sql.Identifier(fk.referenced_columns[0]),
        not_null=_not_null(fk),
    )


def share_key(conn: psycopg.Connection, fk: ForeignKey) -> tuple | None:
    """Relationships with equal share keys can be counted in one pass (count_orphans_together): the
    same referenced table and columns, referencing columns of the same types and collations."""
    rows = conn.execute(
        "SELECT format_type(a.atttypid, a.atttypmod), a.attcollation FROM unnest(%s::text[]) WITH ORDINALITY u(c, n) "
        "JOIN pg_attribute a ON a.attrelid = to_regclass(%s) AND a.attname = u.c ORDER BY u.n",
        (list(fk.columns), ddl.table_ref(fk.table).as_string(conn)),
    ).fetchall()
    if len(rows) != len(fk.columns):
        return None
    return (fk.references, fk.referenced_columns, tuple(rows))


def count_orphans_together(conn: psycopg.Connection, fks: list[ForeignKey]) -> list[int]:
    """The orphans of several relationships that reference the same key (equal share_key), in one
    pass: the referenced table is read and hashed once instead of once per relationship. Each
    branch keeps its own relationship's MATCH rule, so every count equals count_orphans's."""
    width = len(fks[0].referenced_columns)
    keys = [sql.Identifier(f"k{i}") for i in range(width)]
    branches = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {tag} AS tag, {cols} FROM {table} fk WHERE {not_null}").format(
            tag=sql.Literal(tag), table=relation(conn, fk.table), not_null=_not_null(fk),
            cols=sql.SQL(", ").join(sql.SQL("fk.{} AS {}").format(sql.Identifier(c), k)
                                    for c, k in zip(fk.columns, keys, strict=True)))
        for tag, fk in enumerate(fks)
    )
    query = sql.SQL(OWN_STATEMENT) + sql.SQL(" SELECT fk.tag, count(*) FROM ({branches}) fk LEFT JOIN {pk_table} pk ON {join} "
                    "WHERE pk.{first} IS NULL GROUP BY fk.tag").format(
        branches=branches, pk_table=relation(conn, fks[0].references), join=_join(fks[0], keys),
        first=sql.Identifier(fks[0].referenced_columns[0]))
    with conn.transaction():
        conn.execute(_AS_VALIDATE_DOES)
        found: dict[int, int] = dict(conn.execute(query).fetchall())
    return [found.get(tag, 0) for tag in range(len(fks))]


def orphan_query(conn: psycopg.Connection, fk: ForeignKey, columns: tuple[str, ...] = ()) -> sql.Composed:
    """The orphan rows' key columns (and any extra columns asked for)."""
    wanted = list(dict.fromkeys([*fk.columns, *columns]))
    return select_orphans(conn, fk, sql.SQL(", ").join(sql.SQL("fk.{}").format(sql.Identifier(c)) for c in wanted))


# RI_Initial_Check runs its anti-join with work_mem = maintenance_work_mem and hash_mem_multiplier = 1;
# so does the audit, or on a big table its hash join would spill to disk where VALIDATE's does not.
_AS_VALIDATE_DOES = ("SELECT set_config('work_mem', current_setting('maintenance_work_mem'), true), "
                     "set_config('hash_mem_multiplier', '1', true)")


def tablesample(percent: float) -> sql.Composed:
    """A repeatable sample of a table's pages: the same rows every time, so two runs can be compared."""
    return sql.SQL("TABLESAMPLE SYSTEM ({}) REPEATABLE (0)").format(sql.Literal(percent))


def count_orphans(conn: psycopg.Connection, fk: ForeignKey) -> int:
    query = select_orphans(conn, fk, sql.SQL("count(*)"))
    if conn.autocommit and conn.info.transaction_status == pq.TransactionStatus.IDLE:
        # One message without parameters is one implicit transaction: the settings last for the count alone, and
        # the gate's count per key is one round trip instead of four (BEGIN, settings, count, COMMIT).
        cursor = conn.execute(sql.SQL("; ").join([sql.SQL(_AS_VALIDATE_DOES), query]))
        cursor.nextset()
        return one(cursor)[0]
    with conn.transaction():
        conn.execute(_AS_VALIDATE_DOES)
        return one(conn.execute(query))[0]


def count_keys_and_orphans(conn: psycopg.Connection, fk: ForeignKey, sample_percent: float | None = None) -> tuple[int, int]:
    """(referencing rows with a key, orphans among them): count_orphans's join and MATCH rule, with the rows
    it exempts counted too, for `fkguard discover`'s share. With sample_percent, only a repeatable
    TABLESAMPLE SYSTEM of the referencing table's pages is read (the parent side is looked up by its key)."""
    sample = sql.SQL(" ") + tablesample(sample_percent) if sample_percent is not None else sql.SQL("")
    query = sql.SQL(OWN_STATEMENT) + sql.SQL(
        " SELECT count(*), count(*) FILTER (WHERE pk.{first} IS NULL) FROM {fk_table} fk{sample} "
        "LEFT JOIN {pk_table} pk ON {join} WHERE {not_null}").format(
        first=sql.Identifier(fk.referenced_columns[0]), fk_table=relation(conn, fk.table), sample=sample,
        pk_table=relation(conn, fk.references), join=_join(fk, [sql.Identifier(c) for c in fk.columns]),
        not_null=_not_null(fk))
    with conn.transaction():
        conn.execute(_AS_VALIDATE_DOES)
        keys, missing = one(conn.execute(query))
    return int(keys), int(missing)


def sample_orphan_keys(conn: psycopg.Connection, fk: ForeignKey, limit: int = 5, columns: tuple[str, ...] = (),
                       row_factory: RowFactory[Any] = tuple_row) -> list[Any]:
    """The first few orphans: their key columns, then any extra columns asked for (as tuples, or
    dict_row's {column: value}). Keys alone come distinct: five rows pointing at one missing parent
    say less than five missing parents."""
    distinct = sql.SQL("SELECT DISTINCT * FROM ({}) o") if not columns else sql.SQL("{}")
    query = sql.SQL("{} LIMIT {}").format(distinct.format(orphan_query(conn, fk, columns)), sql.Literal(limit))
    with conn.cursor(row_factory=row_factory) as cur:
        return cur.execute(query).fetchall()


def stream_orphans(conn: psycopg.Connection, fk: ForeignKey, columns: tuple[str, ...] = (),
                   batch: int = 1000, row_factory: RowFactory[Any] = tuple_row) -> Iterator[Any]:
    """Every orphan row, through a server-side cursor: memory stays flat however many there are."""
    with conn.transaction(), conn.cursor(name=f"fkguard_orphans_{abs(hash(fk.qualified))}", row_factory=row_factory) as cur:
        cur.itersize = batch
        cur.execute(orphan_query(conn, fk, columns))
        yield from cur


def describe_keys(fk: ForeignKey, keys: list[tuple]) -> str:
    """Sample keys as SQL one can paste: column = literal (uuid '…', not Python's UUID('…'))."""
    def literal(value: object) -> str:
        if isinstance(value, uuid.UUID):  # psycopg would write it without dashes: valid, but not what people search for
            return f"{sql.Literal(str(value)).as_string(None)}::uuid"
        return sql.Literal(value).as_string(None)

    shown = ", ".join(
        "(" + ", ".join(f"{c}={literal(v)}" for c, v in zip(fk.columns, key, strict=True)) + ")" if len(fk.columns) > 1
        else f"{fk.columns[0]}={literal(key[0])}"
        for key in keys
    )
    return shown or "none"
