"""The plan's remediation options for orphans, each keeping a copy first:

- delete:  the orphan rows are moved into the quarantine table, then deleted;
- nullify: the rows are copied into quarantine, then their key set to NULL (the column must allow it);
- accept:  nothing changes in the database; the orphans are recorded as debt (fkguard.debt).

Each relationship is one transaction: what is deleted or changed is exactly what was copied.
`undo` puts a batch back as it was.
"""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass

import psycopg
from psycopg import sql

from fkguard import ddl, orphans, pgerror
from fkguard.audit import primary_key
from fkguard.catalog import ForeignKey, QualifiedName

SCHEMA = "fkguard_quarantine"
ROWS = sql.Identifier(SCHEMA, "rows")
SETUP = [
    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)),
    sql.SQL("""CREATE TABLE IF NOT EXISTS {} (
        batch text NOT NULL,
        constraint_name text NOT NULL,
        source_schema text NOT NULL,
        source_table text NOT NULL,
        action text NOT NULL CHECK (action IN ('delete', 'nullify')),
        key_columns text[] NOT NULL,
        row_data jsonb NOT NULL,
        quarantined_at timestamptz NOT NULL DEFAULT now(),
        restored_at timestamptz)""").format(ROWS),
]


class RemediationError(RuntimeError):
    """A remediation refused before anything changed; the message says why and what to do instead."""


@dataclass(frozen=True)
class Result:
    fk: ForeignKey
    action: str
    rows: int
    batch: str


def new_batch() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def _listed(columns: list[str] | tuple[str, ...], alias: str) -> sql.Composed:
    return sql.SQL(", ").join(sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(c)) for c in columns)


def _cascades_from(conn: psycopg.Connection, table: QualifiedName) -> list[str]:
    """Foreign keys whose ON DELETE would change other tables' rows when `table` loses rows."""
    return [r[0] for r in conn.execute(
        "SELECT c.conname || ' on ' || c.conrelid::regclass::text FROM pg_constraint c "
        "WHERE c.contype = 'f' AND c.confrelid = %s::regclass AND c.confdeltype IN ('c', 'n', 'd')",
        (ddl.table_ref(table).as_string(conn),))]


def _not_null(conn: psycopg.Connection, fk: ForeignKey) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attname = ANY(%s) AND attnotnull",
        (ddl.table_ref(fk.table).as_string(conn), list(fk.columns)))]


def _generated(conn: psycopg.Connection, fk: ForeignKey) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attname = ANY(%s) AND attgenerated <> ''",
        (ddl.table_ref(fk.table).as_string(conn), list(fk.columns)))]


def plan(conn: psycopg.Connection, fk: ForeignKey, action: str) -> tuple[int, str | None]:
    """How many rows the action would touch, and why it must not run (None when it may)."""
    count = orphans.count_orphans(conn, fk)
    if not primary_key(conn, fk.table):
        return count, f"{fk.table} has no primary key, so its rows could not be put back exactly; add one first"
    if action == "delete":
        hazards = _cascades_from(conn, fk.table)
        if hazards:
            return count, (f"deleting from {fk.table} would also change rows elsewhere through {', '.join(hazards)}, "
                           f"which quarantine would not keep; remediate those first or use --action nullify")
    if action == "nullify":
        generated = _generated(conn, fk)
        if generated:
            return count, (f"{fk.table}.{', '.join(generated)} is a generated column, so the key cannot be set to "
                           f"NULL; use --action delete or --action accept")
        not_null = _not_null(conn, fk)
        if not_null:
            return count, (f"{fk.table}.{', '.join(not_null)} is NOT NULL, so the key cannot be set to NULL; "
                           f"use --action delete or --action accept")
    return count, None


def apply(conn: psycopg.Connection, fk: ForeignKey, action: str, batch: str) -> Result:
    """Copy the orphans into quarantine, then delete or nullify exactly those rows, in one transaction."""
    _, refusal = plan(conn, fk, action)
    if refusal:
        raise RemediationError(f"{fk.name}: {refusal}")
    pk = list(primary_key(conn, fk.table))
    table = ddl.table_ref(fk.table)
    # The orphans' primary keys, found with the same predicate as VALIDATE.
    orphan_pks = sql.SQL("SELECT {} FROM ({}) o").format(_listed(pk, "o"), orphans.orphan_query(conn, fk, tuple(pk)))
    values = {"batch": batch, "name": fk.name, "schema": fk.table.schema, "table": fk.table.name,
              "action": action, "keys": list(fk.columns)}
    copy = sql.SQL("INSERT INTO {rows} (batch, constraint_name, source_schema, source_table, action, key_columns, "
                   "row_data) SELECT %(batch)s, %(name)s, %(schema)s, %(table)s, %(action)s, %(keys)s, to_jsonb(moved) "
                   "FROM moved").format(rows=ROWS)
    if action == "delete":
        moving = sql.SQL("DELETE FROM {table} t WHERE ({pk}) IN ({orphans}) RETURNING t.*")
    else:
        moving = sql.SQL("SELECT t.* FROM {table} t WHERE ({pk}) IN ({orphans}) FOR UPDATE")
    statement = sql.SQL("WITH moved AS ({}) {}").format(
        moving.format(table=table, pk=_listed(pk, "t"), orphans=orphan_pks), copy)
    try:
        with conn.transaction():
            for setup in SETUP:
                conn.execute(setup)
            moved = conn.execute(statement, values).rowcount
            if action == "nullify":
                conn.execute(sql.SQL(
                    "UPDATE {table} t SET {nulls} FROM (SELECT (jsonb_populate_record(NULL::{table}, row_data)).* "
                    "FROM {rows} WHERE batch = %(batch)s AND constraint_name = %(name)s) q WHERE ({t_pk}) = ({q_pk})"
                ).format(table=table, rows=ROWS, t_pk=_listed(pk, "t"), q_pk=_listed(pk, "q"),
                         nulls=sql.SQL(", ").join(sql.SQL("{} = NULL").format(sql.Identifier(c)) for c in fk.columns)),
                    values)
    except psycopg.Error as exc:
        reason = pgerror.one_line(exc)
        if reason is None:
            raise
        raise RemediationError(f"{fk.name}: PostgreSQL refused the {action} ({reason}); "
                               f"nothing of {fk.table} changed") from None
    return Result(fk, action, moved, batch)


@dataclass(frozen=True)
class Batch:
    batch: str
    constraint_name: str
    schema: str
    table: str
    action: str
    key_columns: tuple[str, ...]
    rows: int
    quarantined_at: str
    restored: bool


def batches(conn: psycopg.Connection) -> list[Batch]:
    if conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.rows",)).fetchone()[0] is None:
        return []
    return [Batch(b, c, s, t, a, tuple(k), n, at, r) for b, c, s, t, a, k, n, at, r in conn.execute(sql.SQL(
        "SELECT batch, constraint_name, source_schema, source_table, action, key_columns, count(*)::int, "
        "to_char(min(quarantined_at), 'YYYY-MM-DD HH24:MI:SS'), bool_and(restored_at IS NOT NULL) "
        "FROM {} GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 8, 2").format(ROWS))]


def undo(conn: psycopg.Connection, batch: str) -> int:
    """Put every row of a batch back exactly as it was copied; returns how many rows."""
    parts = [b for b in batches(conn) if b.batch == batch]
    if not parts:
        raise RemediationError(f"no quarantine batch {batch!r}; fkguard remediate --list shows them")
    if all(b.restored for b in parts):
        raise RemediationError(f"batch {batch} was already put back")
    restored, table = 0, None
    try:
        with conn.transaction():
            for part in (p for p in parts if not p.restored):
                table = QualifiedName(part.schema, part.table)
                values = {"batch": batch, "name": part.constraint_name}
                copies = sql.SQL("SELECT (jsonb_populate_record(NULL::{table}, row_data)).* FROM {rows} "
                                 "WHERE batch = %(batch)s AND constraint_name = %(name)s AND restored_at IS NULL"
                                 ).format(table=ddl.table_ref(table), rows=ROWS)
                if part.action == "delete":
                    statement = _reinsert(conn, table, copies, values)
                else:
                    # Only the key columns nullify changed are written back; the rest may have moved on since.
                    pk = list(primary_key(conn, table))
                    statement = sql.SQL("UPDATE {table} t SET {sets} FROM ({copies}) q WHERE ({t_pk}) = ({q_pk})").format(
                        table=ddl.table_ref(table), copies=copies, t_pk=_listed(pk, "t"), q_pk=_listed(pk, "q"),
                        sets=sql.SQL(", ").join(sql.SQL("{c} = q.{c}").format(c=sql.Identifier(c))
                                                for c in part.key_columns))
                restored += conn.execute(statement, values).rowcount
                conn.execute(sql.SQL("UPDATE {} SET restored_at = now() WHERE batch = %(batch)s "
                                     "AND constraint_name = %(name)s").format(ROWS), values)
    except psycopg.Error as exc:
        reason = pgerror.one_line(exc)
        if reason is None:
            raise
        raise RemediationError(f"batch {batch} was not put back and stays in quarantine: PostgreSQL refused the rows "
                               f"of {table} ({reason}); fix that, then run --undo {batch} again") from None
    return restored


def _reinsert(conn: psycopg.Connection, table: QualifiedName, copies: sql.Composable, values: dict) -> sql.Composed:
    """The INSERT that puts deleted rows back as they were: the stored columns the copies hold (a generated
    column recomputes, a column added since gets its default), identity values kept as they were."""
    copied = {r[0] for r in conn.execute(sql.SQL(
        "SELECT DISTINCT jsonb_object_keys(row_data) FROM {rows} WHERE batch = %(batch)s "
        "AND constraint_name = %(name)s AND restored_at IS NULL").format(rows=ROWS), values)}
    columns = [(name, identity) for name, identity in conn.execute(
        "SELECT attname, attidentity FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
        "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
        (ddl.table_ref(table).as_string(conn),)) if name in copied]
    # GENERATED ALWAYS AS IDENTITY refuses a given value unless told; BY DEFAULT takes it as it is.
    overriding = sql.SQL("OVERRIDING SYSTEM VALUE ") if any(i == "a" for _, i in columns) else sql.SQL("")
    names = [name for name, _ in columns]
    return sql.SQL("INSERT INTO {table} ({columns}) {overriding}SELECT {values} FROM ({copies}) q").format(
        table=ddl.table_ref(table), columns=sql.SQL(", ").join(map(sql.Identifier, names)), overriding=overriding,
        values=_listed(names, "q"), copies=copies)
