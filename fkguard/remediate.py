"""The plan's remediation options for orphans, each keeping a copy first:

- delete:  the orphan rows are moved into the quarantine table, then deleted;
- nullify: the rows are copied into quarantine, then their key set to NULL (the column must allow it);
- accept:  nothing changes in the database; the orphans are recorded as debt (fkguard.debt).

Each relationship is one transaction: what is deleted or changed is exactly what was copied.
Rows are found by their primary key, or on a table without one by where they are (tableoid, ctid),
found, changed and copied in one statement: a row another transaction moves meanwhile is left alone.
A delete is refused before anything changes while rows of another relationship (the catalog's or a
foreign key already in the database) point at the rows it would remove: quarantine would not keep
what that does to them. fkguard.quarantine puts a batch back as it was.
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from fkguard import ddl, errors, introspect, orphans
from fkguard.audit import primary_key
from fkguard.catalog import ForeignKey, QualifiedName
from fkguard.errors import FkguardError
from fkguard.locks import LockPolicy, in_locked_transaction
from fkguard.query_row import one

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


class RemediationError(FkguardError):
    """A remediation refused before anything changed; the message says why and what to do instead."""

    def __init__(self, message: str, *, constraint: str | None = None) -> None:
        super().__init__(message)
        self.constraint = constraint  # the relationship refused, when it is one


@dataclass(frozen=True)
class Result:
    fk: ForeignKey
    action: str
    rows: int
    batch: str


def new_batch() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def listed(columns: list[str] | tuple[str, ...], alias: str) -> sql.Composed:
    return sql.SQL(", ").join(sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(c)) for c in columns)


# What PostgreSQL does to the referencing rows when their parent goes, by the key's ON DELETE.
_EFFECT = {"CASCADE": "delete {n} rows of {table} along through {name} (ON DELETE CASCADE), which quarantine would not keep",
           "SET NULL": "set the key of {n} rows of {table} to NULL through {name} (ON DELETE SET NULL)",
           "SET DEFAULT": "set the key of {n} rows of {table} to its default through {name} (ON DELETE SET DEFAULT)",
           "NO ACTION": "be blocked by {n} rows of {table} through {name} (ON DELETE NO ACTION)",
           "RESTRICT": "be blocked by {n} rows of {table} through {name} (ON DELETE RESTRICT)"}
_ORPHANED = "orphan {n} rows of {table} through {name} (in the catalog, not yet a constraint)"


def _referrers(conn: psycopg.Connection, table: QualifiedName,
               catalog: Sequence[ForeignKey]) -> list[tuple[ForeignKey, bool]]:
    """Every relationship that references `table`, once, and whether it is a constraint in the database:
    the catalog's and the foreign keys in pg_constraint (the database's ON DELETE is what will happen)."""
    found = {(fk.table, fk.columns, fk.referenced_columns): (fk, False) for fk in catalog if fk.references == table}
    # conparentid = 0: a key on or to a partitioned table once, not once more per partition.
    for schema, name, conname in conn.execute(
            "SELECT n.nspname, t.relname, c.conname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE c.contype = 'f' AND c.conparentid = 0 AND c.confrelid = %s::regclass ORDER BY 1, 2, 3",
            (ddl.table_ref(table).as_string(conn),)).fetchall():
        constraint = introspect.read_constraint(conn, QualifiedName(schema, name), conname)
        if constraint is not None:
            fk = constraint.as_foreign_key("low")
            found[(fk.table, fk.columns, fk.referenced_columns)] = (fk, True)
    return list(found.values())


# Without a primary key a row is told apart only by where it is: ctid within its table, and tableoid
# because two partitions (or a parent and its child) have a row at the same ctid.
LOCATION = ("tableoid", "ctid")


def identity(conn: psycopg.Connection, table: QualifiedName) -> tuple[str, ...]:
    """The columns that pick out one row of `table` within a statement: its primary key, else LOCATION.
    A location is only good inside the statement that read it: an UPDATE elsewhere moves the row."""
    return primary_key(conn, table) or LOCATION


def _pointing_at_orphans(conn: psycopg.Connection, fk: ForeignKey, referrer: ForeignKey, pk: tuple[str, ...]) -> int:
    """Rows of the referrer's table whose key points at a row that deleting fk's orphans would remove."""
    doomed = orphans.orphan_query(conn, fk, (*referrer.referenced_columns, *pk))
    query = sql.SQL("SELECT count(*) FROM {table} r WHERE ({keys}) IN (SELECT {referenced} FROM ({doomed}) o)").format(
        table=ddl.table_ref(referrer.table), keys=listed(referrer.columns, "r"),
        referenced=listed(referrer.referenced_columns, "o"), doomed=doomed)
    if referrer.table == fk.table:  # a row deleted with the orphans is not left behind by them
        query = sql.SQL("{} AND ({}) NOT IN (SELECT {} FROM ({}) o)").format(
            query, listed(pk, "r"), listed(pk, "o"), doomed)
    with conn.transaction():
        return one(conn.execute(query))[0]


def _delete_hazards(conn: psycopg.Connection, fk: ForeignKey, catalog: Sequence[ForeignKey]) -> list[str]:
    """What deleting fk's orphans would do to rows of other relationships, counted before anything changes."""
    pk = identity(conn, fk.table)
    hazards = []
    for referrer, in_database in _referrers(conn, fk.table, catalog):
        if not introspect.table_exists(conn, referrer.table):
            continue
        try:
            n = _pointing_at_orphans(conn, fk, referrer, pk)
        except psycopg.Error as exc:
            reason = errors.refusal(exc)
            hazards.append(f"affect rows of {referrer.table} through {referrer.name}, which could not be counted "
                           f"({reason})")
            continue
        if n:
            effect = _EFFECT[referrer.on_delete] if in_database else _ORPHANED
            hazards.append(effect.format(n=n, table=referrer.table, name=referrer.name))
    return hazards


def _not_null(conn: psycopg.Connection, fk: ForeignKey) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attname = ANY(%s) AND attnotnull",
        (ddl.table_ref(fk.table).as_string(conn), list(fk.columns)))]


def generated_columns(conn: psycopg.Connection, table: QualifiedName) -> list[str]:
    """The table's generated columns: PostgreSQL computes them, so nothing writes them back."""
    return [r[0] for r in conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
        "AND attgenerated <> ''", (ddl.table_ref(table).as_string(conn),))]


def plan(conn: psycopg.Connection, fk: ForeignKey, action: str,
         catalog: Sequence[ForeignKey] = ()) -> tuple[int, str | None]:
    """How many rows the action would touch, and why it must not run (None when it may). A delete
    is checked against every relationship that references the table: the catalog's and the database's."""
    count = orphans.count_orphans(conn, fk)
    if action == "accept" or not count:
        return count, None
    if action == "delete":
        hazards = _delete_hazards(conn, fk, catalog)
        if hazards:
            return count, (f"deleting its {count} orphan rows of {fk.table} would {'; and would '.join(hazards)}. "
                           f"Nothing changed: deal with those rows first (point them at another parent or remove "
                           f"them), or use --action nullify or --action accept for {fk.label}")
    if action == "nullify":
        generated = [c for c in generated_columns(conn, fk.table) if c in fk.columns]
        if generated:
            return count, (f"{fk.table}.{', '.join(generated)} is a generated column, so the key cannot be set to "
                           f"NULL; use --action delete or --action accept")
        not_null = _not_null(conn, fk)
        if not_null:
            return count, (f"{fk.table}.{', '.join(not_null)} is NOT NULL, so the key cannot be set to NULL; "
                           f"use --action delete or --action accept")
    return count, None


def apply(conn: psycopg.Connection, fk: ForeignKey, action: str, batch: str,
          catalog: Sequence[ForeignKey] = (), policy: LockPolicy | None = None) -> Result:
    """Copy the orphans into quarantine, then delete or nullify exactly those rows, in one transaction under
    the stack's lock_timeout and statement_timeout, like every statement fkguard runs (fkguard.locks): rows
    an application holds make it retry within the budget, then give up with nothing changed."""
    _, refusal = plan(conn, fk, action, catalog)
    if refusal:
        raise RemediationError(f"{fk.name}: {refusal}", constraint=fk.name)
    pk = list(identity(conn, fk.table))
    by_location = tuple(pk) == LOCATION
    table = ddl.table_ref(fk.table)
    # The orphans' primary keys (or locations), found with the same predicate as VALIDATE.
    orphan_pks = sql.SQL("SELECT {} FROM ({}) o").format(listed(pk, "o"), orphans.orphan_query(conn, fk, tuple(pk)))
    values = {"batch": batch, "name": fk.name, "schema": fk.table.schema, "table": fk.table.name,
              "action": action, "keys": list(fk.columns)}
    copy = sql.SQL("INSERT INTO {rows} (batch, constraint_name, source_schema, source_table, action, key_columns, "
                   "row_data) SELECT %(batch)s, %(name)s, %(schema)s, %(table)s, %(action)s, %(keys)s, {row_data} "
                   "FROM moved")
    nulls = sql.SQL(", ").join(sql.SQL("{} = NULL").format(sql.Identifier(c)) for c in fk.columns)
    # A location is read and used within one statement, and what is copied is what that statement returns: a
    # row another transaction changes meanwhile has moved, the recheck PostgreSQL makes of it sees the new
    # ctid, and the row is neither deleted or nulled nor copied (it stays an orphan for the next run).
    if action == "nullify" and by_location:
        # RETURNING has the new row, its key NULL; the copy comes from the scan that found the location.
        moving = sql.SQL("UPDATE {relation} t SET {nulls} FROM ({found}) o "
                         "WHERE t.tableoid = o.tableoid AND t.ctid = o.ctid RETURNING o.row_data").format(
            relation=orphans.relation(conn, fk.table), nulls=nulls,
            found=orphans.select_orphans(conn, fk, sql.SQL("fk.tableoid, fk.ctid, to_jsonb(fk) AS row_data")))
        row_data = sql.SQL("moved.row_data")
    else:
        moving = (sql.SQL("DELETE FROM {table} t WHERE ({pk}) IN ({orphans}) RETURNING t.*") if action == "delete"
                  else sql.SQL("SELECT t.* FROM {table} t WHERE ({pk}) IN ({orphans}) FOR UPDATE")
                  ).format(table=table, pk=listed(pk, "t"), orphans=orphan_pks)
        row_data = sql.SQL("to_jsonb(moved)")
    statement = sql.SQL("WITH moved AS ({}) {}").format(moving, copy.format(rows=ROWS, row_data=row_data))

    def move() -> int:
        for setup in SETUP:
            conn.execute(setup)
        moved = conn.execute(statement, values).rowcount
        if action == "nullify" and not by_location:
            conn.execute(sql.SQL(
                "UPDATE {table} t SET {nulls} FROM (SELECT (jsonb_populate_record(NULL::{table}, row_data)).* "
                "FROM {rows} WHERE batch = %(batch)s AND constraint_name = %(name)s) q WHERE ({t_pk}) = ({q_pk})"
            ).format(table=table, rows=ROWS, t_pk=listed(pk, "t"), q_pk=listed(pk, "q"), nulls=nulls), values)
        return moved

    try:
        moved = in_locked_transaction(conn, move, [fk.table], policy or LockPolicy(), what=f"remediating {fk.label} ({action})",
                                      then=f"run fkguard remediate again; nothing of {fk.table} changed")
    except psycopg.Error as exc:
        reason = errors.refusal(exc)
        raise RemediationError(f"{fk.label}: PostgreSQL refused the {action} ({reason}); "
                               f"nothing of {fk.table} changed", constraint=fk.name) from None
    return Result(fk, action, moved, batch)
