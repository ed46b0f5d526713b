"""What `fkguard discover` reads from the catalogs, in a handful of queries whatever the schema's size:
the tables with their columns and unique keys, the foreign keys they already have, and their triggers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg

from fkguard import introspect
from fkguard.catalog import QualifiedName

SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast", "fkguard_quarantine")
# (table, pg_trigger.tgtype, trigger name, its function's source in lower case)
Trigger = tuple[QualifiedName, int, str, str]


@dataclass(frozen=True)
class Column:
    name: str
    not_null: bool


@dataclass
class Table:
    name: QualifiedName
    oid: int
    columns: dict[str, Column] = field(default_factory=dict)
    keys: list[tuple[str, ...]] = field(default_factory=list)  # unique keys, the primary key first
    primary: tuple[str, ...] = ()


@dataclass(frozen=True)
class Existing:
    table: QualifiedName
    columns: tuple[str, ...]
    references: QualifiedName
    referenced_columns: tuple[str, ...]
    on_delete: str


def user_schemas(conn: psycopg.Connection) -> tuple[str, ...]:
    rows = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname <> ALL(%s) AND nspname NOT LIKE 'pg\\_%%' "
                        "ORDER BY nspname", (list(SYSTEM_SCHEMAS),)).fetchall()
    return tuple(r[0] for r in rows)


def read_tables(conn: psycopg.Connection, schemas: Iterable[str]) -> dict[int, Table]:
    """The plain and partitioned tables of the schemas (partitions share their parent's keys: left out)."""
    tables = {oid: Table(QualifiedName(schema, name), oid) for schema, name, oid in conn.execute(
        "SELECT n.nspname, c.relname, c.oid::int8 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY(%s) ORDER BY 1, 2",
        (list(schemas),))}
    oids = list(tables)
    for oid, column, not_null in conn.execute(
            "SELECT attrelid::int8, attname, attnotnull FROM pg_attribute WHERE attrelid = ANY(%s::oid[]) AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attrelid, attnum", (oids,)):
        tables[oid].columns[column] = Column(column, not_null)
    for oid, primary, key in conn.execute(
            "SELECT i.indrelid::int8, i.indisprimary, ARRAY(SELECT a.attname::text FROM unnest((i.indkey::int2[])"
            "[0:i.indnkeyatts - 1]) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = k.n ORDER BY k.o) FROM pg_index i WHERE i.indrelid = ANY(%s::oid[]) AND i.indisunique "
            "AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL ORDER BY i.indisprimary DESC, i.indexrelid",
            (oids,)):
        if tuple(key) not in tables[oid].keys:
            tables[oid].keys.append(tuple(key))
        if primary:
            tables[oid].primary = tuple(key)
    return tables


def read_existing(conn: psycopg.Connection, tables: dict[int, Table]) -> list[Existing]:
    """The foreign keys the tables already have (what a discovery leaves out, and the conventions it follows)."""
    found = []
    for table, ref_schema, ref_name, cols, ref_cols, deltype in conn.execute(
            "SELECT c.conrelid::int8, rn.nspname, rt.relname, "
            "ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a "
            "ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i), "
            "ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a "
            "ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i), c.confdeltype "
            "FROM pg_constraint c JOIN pg_class rt ON rt.oid = c.confrelid JOIN pg_namespace rn ON rn.oid = rt.relnamespace "
            "WHERE c.contype = 'f' AND c.conrelid = ANY(%s::oid[]) ORDER BY c.conname", (list(tables),)):
        found.append(Existing(tables[table].name, tuple(cols), QualifiedName(ref_schema, ref_name), tuple(ref_cols),
                              introspect.ACTION_CODES.get(deltype, "NO ACTION")))
    return found


# pg_trigger.tgtype bits (pg_trigger.h): row-level, INSERT, DELETE, UPDATE.
_ROW, _INSERT, _DELETE, _UPDATE = 1, 4, 8, 16


def read_triggers(conn: psycopg.Connection, tables: dict[int, Table]) -> list[Trigger]:
    """(table, tgtype, trigger name, its function's source in lower case) of each user row trigger."""
    return [(tables[oid].name, tgtype, name, (source or "").lower()) for oid, tgtype, name, source in conn.execute(
        "SELECT t.tgrelid::int8, t.tgtype::int, t.tgname, p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
        "WHERE NOT t.tgisinternal AND t.tgrelid = ANY(%s::oid[]) ORDER BY t.tgname", (list(tables),))
        if tgtype & _ROW]


def _mentions(source: str, name: str) -> bool:
    return re.search(r"(?<![\w$])" + re.escape(name.lower()) + r"(?![\w$])", source) is not None


def enforcing_trigger(triggers: list[Trigger], child: QualifiedName, columns: tuple[str, ...],
                      parent: QualifiedName) -> str | None:
    """The trigger that already enforces child (columns) -> parent by hand, if one does: a row trigger on the
    child for INSERT or UPDATE, or on the parent for DELETE or UPDATE, whose function's source names the other
    table and every one of the columns as whole words (what hand-written referential integrity looks like)."""
    for table, tgtype, trigger, source in triggers:
        if table == child and tgtype & (_INSERT | _UPDATE):
            other = parent
        elif table == parent and tgtype & (_DELETE | _UPDATE):
            other = child
        else:
            continue
        if _mentions(source, other.name) and all(_mentions(source, c) for c in columns):
            return f"{trigger} on {table}"
    return None
