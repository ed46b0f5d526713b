"""The quarantine's batches: what each remediation copied, and putting a batch back as it was.

A deleted row is inserted again from its copy; a nulled key is written back, found by the primary key or,
on a table without one, by the row's other columns as they were copied. Last remediated, first put back.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import psycopg
from psycopg import sql

from fkguard import ddl, errors, orphans, remediate
from fkguard.audit import primary_key
from fkguard.catalog import QualifiedName
from fkguard.locks import LockPolicy, in_locked_transaction
from fkguard.query_row import one


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
    if one(conn.execute("SELECT to_regclass(%s)", (f"{remediate.SCHEMA}.rows",)))[0] is None:
        return []
    return [Batch(b, c, s, t, a, tuple(k), n, at, r) for b, c, s, t, a, k, n, at, r in conn.execute(sql.SQL(
        "SELECT batch, constraint_name, source_schema, source_table, action, key_columns, count(*)::int, "
        "to_char(min(quarantined_at), 'YYYY-MM-DD HH24:MI:SS'), bool_and(restored_at IS NOT NULL) "
        "FROM {} GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 8, 2").format(remediate.ROWS))]


def undo(conn: psycopg.Connection, batch: str, policy: LockPolicy | None = None) -> int:
    """Put every row of a batch back exactly as it was copied, in one transaction under the same timeouts
    and lock budget as apply; returns how many rows."""
    parts = [b for b in batches(conn) if b.batch == batch]
    if not parts:
        raise remediate.RemediationError(f"no quarantine batch {batch!r}; fkguard remediate --list shows them")
    if all(b.restored for b in parts):
        raise remediate.RemediationError(f"batch {batch} was already put back")
    # Last remediated, first put back: with --all a later relationship may have copied a row an earlier one
    # had already changed (both keys of a link table nulled), and that row is only found again as it was then.
    applied: dict[str, datetime.datetime] = dict(conn.execute(sql.SQL(
        "SELECT constraint_name, max(quarantined_at) FROM {} WHERE batch = %s GROUP BY 1").format(remediate.ROWS),
        (batch,)).fetchall())
    pending = sorted((p for p in parts if not p.restored), key=lambda p: applied[p.constraint_name], reverse=True)
    table: QualifiedName | None = None

    def put_back() -> int:
        nonlocal table
        restored = 0
        for part in pending:
            table = QualifiedName(part.schema, part.table)
            values = {"batch": batch, "name": part.constraint_name}
            copies = sql.SQL("SELECT (jsonb_populate_record(NULL::{table}, row_data)).* FROM {rows} "
                             "WHERE batch = %(batch)s AND constraint_name = %(name)s AND restored_at IS NULL"
                             ).format(table=ddl.table_ref(table), rows=remediate.ROWS)
            pk = list(primary_key(conn, table))
            if part.action == "delete":
                restored += conn.execute(_reinsert(conn, table, copies, values), values).rowcount
            elif not pk:
                restored += _restore_keys_by_content(conn, table, part, values)
            else:
                # Only the key columns nullify changed are written back; the rest may have moved on since.
                restored += conn.execute(sql.SQL(
                    "UPDATE {table} t SET {sets} FROM ({copies}) q WHERE ({t_pk}) = ({q_pk})").format(
                    table=ddl.table_ref(table), copies=copies, t_pk=remediate.listed(pk, "t"), q_pk=remediate.listed(pk, "q"),
                    sets=sql.SQL(", ").join(sql.SQL("{c} = q.{c}").format(c=sql.Identifier(c))
                                            for c in part.key_columns)), values).rowcount
            conn.execute(sql.SQL("UPDATE {} SET restored_at = now() WHERE batch = %(batch)s "
                                 "AND constraint_name = %(name)s").format(remediate.ROWS), values)
        return restored

    tables = sorted({QualifiedName(p.schema, p.table) for p in parts if not p.restored}, key=str)
    try:
        return in_locked_transaction(conn, put_back, tables, policy or LockPolicy(), what=f"putting back batch {batch}",
                                     then=f"run --undo {batch} again; the batch stays in quarantine")
    except psycopg.Error as exc:
        reason = errors.refusal(exc)
        raise remediate.RemediationError(f"batch {batch} was not put back and stays in quarantine: PostgreSQL refused the rows "
                               f"of {table} ({reason}); fix that, then run --undo {batch} again") from None


def _reinsert(conn: psycopg.Connection, table: QualifiedName, copies: sql.Composable, values: dict) -> sql.Composed:
    """The INSERT that puts deleted rows back as they were: the stored columns the copies hold (a generated
    column recomputes, a column added since gets its default), identity values kept as they were."""
    copied = {r[0] for r in conn.execute(sql.SQL(
        "SELECT DISTINCT jsonb_object_keys(row_data) FROM {rows} WHERE batch = %(batch)s "
        "AND constraint_name = %(name)s AND restored_at IS NULL").format(rows=remediate.ROWS), values)}
    columns = [(name, identity) for name, identity in conn.execute(
        "SELECT attname, attidentity FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
        "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
        (ddl.table_ref(table).as_string(conn),)) if name in copied]
    # GENERATED ALWAYS AS IDENTITY refuses a given value unless told; BY DEFAULT takes it as it is.
    overriding = sql.SQL("OVERRIDING SYSTEM VALUE ") if any(i == "a" for _, i in columns) else sql.SQL("")
    names = [name for name, _ in columns]
    return sql.SQL("INSERT INTO {table} ({columns}) {overriding}SELECT {values} FROM ({copies}) q").format(
        table=ddl.table_ref(table), columns=sql.SQL(", ").join(map(sql.Identifier, names)), overriding=overriding,
        values=remediate.listed(names, "q"), copies=copies)


def _restore_keys_by_content(conn: psycopg.Connection, table: QualifiedName, part: Batch, values: dict) -> int:
    """Give the rows a nullify changed on a table without a primary key their key back. A row is known only by
    its content: a copy's row is one whose key is NULL and whose every other column reads as the copy's (a
    generated column follows the rest). Copies and rows that read alike are paired one to one (row_number
    within the group), so n identical rows nulled get n keys back. Rows that read alike cannot be told apart
    by any query, so which of them gets which key leaves the table's rows the same either way; when a group
    has fewer rows than copies, some were changed or deleted since, and nothing is put back."""
    values = {**values, "ignored": [*part.key_columns, *remediate.generated_columns(conn, table)]}
    # The text of jsonb is the finest reading of a row: numeric 1.0 and 1.00 are equal, but read apart. Both
    # sides are written by this session, so settings such as TimeZone cannot make one row read as two.
    pairs = sql.SQL("""WITH copies AS (
        SELECT quarantined, sig, row_number() OVER (PARTITION BY sig) AS n FROM (
            SELECT quarantined, (to_jsonb(quarantined) - %(ignored)s::text[])::text COLLATE "C" AS sig FROM (
                SELECT jsonb_populate_record(NULL::{table}, row_data) AS quarantined FROM {rows}
                WHERE batch = %(batch)s AND constraint_name = %(name)s AND restored_at IS NULL) r) q),
    nulled AS (
        SELECT table_oid, row_id, sig, row_number() OVER (PARTITION BY sig ORDER BY table_oid, row_id) AS n FROM (
            SELECT t.tableoid AS table_oid, t.ctid AS row_id, (to_jsonb(t) - %(ignored)s::text[])::text COLLATE "C" AS sig
            FROM {relation} t WHERE {keys_null}) c
        WHERE sig IN (SELECT sig FROM copies)),
    pairs AS (SELECT c.table_oid, c.row_id, q.quarantined FROM copies q LEFT JOIN nulled c USING (sig, n))
    """).format(table=ddl.table_ref(table), rows=remediate.ROWS, relation=orphans.relation(conn, table),
                keys_null=sql.SQL(" AND ").join(sql.SQL("t.{} IS NULL").format(sql.Identifier(c))
                                                for c in part.key_columns))
    copies, found = one(conn.execute(pairs + sql.SQL("SELECT count(*), count(row_id) FROM pairs"), values))
    if found < copies:
        raise remediate.RemediationError(
            f"batch {values['batch']} was not put back and stays in quarantine: {copies - found} of the {copies} rows "
            f"{part.constraint_name} set to NULL in {table} no longer have a row there whose key is NULL and whose "
            f"other columns are as they were copied (changed or deleted since), and without a primary key nothing "
            f"else tells which row was theirs; nothing changed")
    # Each row is taken at the location this statement read: one another transaction moved meanwhile is
    # not updated, and the count below says so.
    restored = conn.execute(pairs + sql.SQL(
        "UPDATE {relation} t SET {sets} FROM pairs p WHERE t.tableoid = p.table_oid AND t.ctid = p.row_id").format(
        relation=orphans.relation(conn, table), sets=sql.SQL(", ").join(
            sql.SQL("{c} = (p.quarantined).{c}").format(c=sql.Identifier(c)) for c in part.key_columns)),
        values).rowcount
    if restored != copies:
        raise remediate.RemediationError(
            f"batch {values['batch']} was not put back and stays in quarantine: {copies - restored} of the rows "
            f"{part.constraint_name} set to NULL in {table} changed while undo ran; nothing changed, run --undo "
            f"{values['batch']} again")
    return restored
