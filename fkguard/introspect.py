"""What the database says: a foreign key as pg_constraint records it, and the facts about the
tables that decide whether one can be added."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from fkguard import ddl
from fkguard.catalog import ForeignKey, QualifiedName

ACTION_CODES = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
MATCH_CODES = {"s": "SIMPLE", "f": "FULL", "p": "PARTIAL"}

# ON DELETE SET NULL / SET DEFAULT (cols) is PostgreSQL 15's: older servers have no confdelsetcols.
_SET_COLUMNS = {True: """ARRAY(SELECT a.attname::text FROM unnest(c.confdelsetcols) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i)""",
                False: "ARRAY[]::text[]"}

_CONSTRAINT = """
SELECT c.contype, c.convalidated, pg_get_constraintdef(c.oid), c.condeferrable, c.condeferred, {set_columns},
       rn.nspname, rt.relname,
       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
       ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i),
       c.confdeltype, c.confupdtype, c.confmatchtype
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_class rt ON rt.oid = c.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rt.relnamespace
WHERE n.nspname = %s AND t.relname = %s AND c.conname = %s
"""
_QUERIES = {has: _CONSTRAINT.format(set_columns=columns) for has, columns in _SET_COLUMNS.items()}


@dataclass(frozen=True)
class LiveConstraint:
    """A constraint of the given name on the given table, as PostgreSQL has it."""

    name: str
    table: QualifiedName
    contype: str
    validated: bool
    definition: str
    references: QualifiedName | None
    columns: tuple[str, ...]
    referenced_columns: tuple[str, ...]
    on_delete: str | None
    on_update: str | None
    match: str | None
    deferrable: bool = False
    initially_deferred: bool = False
    on_delete_columns: tuple[str, ...] = ()

    def differences(self, fk: ForeignKey) -> list[str]:
        """What differs from the catalog's foreign key (validation state aside), one phrase per attribute."""
        if self.contype != "f" or self.references is None:
            return [f"not a foreign key in the database: {self.definition}"]
        actual = self.as_foreign_key(fk.tier)
        found = []
        for label, render in _ATTRIBUTES:
            ours, theirs = render(actual), render(fk)
            if ours != theirs:
                found.append(f"{label}{ours} in the database, {label}{theirs} in the catalog")
        return found

    def same_as(self, fk: ForeignKey) -> bool:
        """Is this the foreign key the catalog describes, in every attribute (validation state aside)?"""
        return not self.differences(fk)

    def as_foreign_key(self, tier: str) -> ForeignKey:
        assert self.references is not None, "only a foreign key converts"
        return ForeignKey(
            name=self.name, tier=tier, table=self.table, columns=self.columns, references=self.references,
            referenced_columns=self.referenced_columns, on_delete=self.on_delete or "NO ACTION",
            on_update=self.on_update or "NO ACTION", match=self.match or "SIMPLE", deferrable=self.deferrable,
            initially_deferred=self.initially_deferred, on_delete_columns=self.on_delete_columns,
        )


def _cols(columns: tuple[str, ...]) -> str:
    return "(" + ", ".join(columns) + ")"


def deferral(fk: ForeignKey) -> str:
    if not fk.deferrable:
        return "NOT DEFERRABLE"
    return "DEFERRABLE INITIALLY DEFERRED" if fk.initially_deferred else "DEFERRABLE"


# Every attribute of a foreign key, as (label, how it reads in SQL): what same_as compares and what
# `fkguard status` names when one differs.
_ATTRIBUTES: tuple[tuple[str, Callable[[ForeignKey], str]], ...] = (
    ("FOREIGN KEY ", lambda fk: _cols(fk.columns)),
    ("REFERENCES ", lambda fk: f"{fk.references} {_cols(fk.referenced_columns)}"),
    ("MATCH ", lambda fk: fk.match),
    ("ON DELETE ", lambda fk: fk.on_delete + (" " + _cols(fk.on_delete_columns) if fk.on_delete_columns else "")),
    ("ON UPDATE ", lambda fk: fk.on_update),
    ("", deferral),
)


def read_constraint(conn: psycopg.Connection, table: QualifiedName, name: str) -> LiveConstraint | None:
    row = conn.execute(_QUERIES[conn.info.server_version >= 150000], (table.schema, table.name, name)).fetchone()
    if row is None:
        return None
    (contype, validated, definition, deferrable, deferred, set_cols, ref_schema, ref_name, cols, ref_cols,
     deltype, updtype, matchtype) = row
    return LiveConstraint(
        name=name, table=table, contype=contype, validated=bool(validated), definition=definition,
        references=QualifiedName(ref_schema, ref_name) if ref_name else None,
        columns=tuple(cols), referenced_columns=tuple(ref_cols),
        on_delete=ACTION_CODES.get(deltype), on_update=ACTION_CODES.get(updtype), match=MATCH_CODES.get(matchtype),
        deferrable=bool(deferrable), initially_deferred=bool(deferred), on_delete_columns=tuple(set_cols or ()),
    )


def constraints_present(conn: psycopg.Connection, keys: Sequence[tuple[QualifiedName, str]]) -> set[tuple[QualifiedName, str]]:
    """Which of these (table, constraint name) pairs the database has, in one query."""
    if not keys:
        return set()
    rows = conn.execute(
        "SELECT k.schema, k.tab, k.name FROM unnest(%s::text[], %s::text[], %s::text[]) AS k(schema, tab, name) "
        "WHERE EXISTS (SELECT 1 FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid "
        "JOIN pg_namespace n ON n.oid = r.relnamespace WHERE n.nspname = k.schema AND r.relname = k.tab "
        "AND c.conname = k.name)",
        ([t.schema for t, _ in keys], [t.name for t, _ in keys], [n for _, n in keys])).fetchall()
    return {(QualifiedName(schema, table), name) for schema, table, name in rows}


# What names are, as one judgement of one key has asked them (names_held): a check and the policies of one key
# asked the same table's relkind up to thirteen times in one pass.
_held = threading.local()


@contextmanager
def names_held(memo: dict | None = None) -> Iterator[dict]:
    """Within the block, on this thread, each relation's relkind is asked of PostgreSQL once. For one step of
    one key (a provider's check, the policies judging one resource), never across steps, so nothing goes stale."""
    before = getattr(_held, "memo", None)
    _held.memo = {} if memo is None else memo
    try:
        yield _held.memo
    finally:
        _held.memo = before


def hold_names(memo: dict | None) -> None:
    """names_held without a block, for a caller whose scope spans several calls (the pack's one resource)."""
    _held.memo = memo


def constraint_validation(conn: psycopg.Connection,
                          keys: Sequence[tuple[QualifiedName, str]]) -> dict[tuple[QualifiedName, str], bool]:
    """convalidated of each of these (table, constraint name) pairs the database has, in one query."""
    if not keys:
        return {}
    rows = conn.execute(
        "SELECT n.nspname, r.relname, c.conname, c.convalidated FROM unnest(%s::text[], %s::text[], %s::text[]) "
        "AS k(schema, tab, name) JOIN pg_namespace n ON n.nspname = k.schema JOIN pg_class r ON "
        "r.relnamespace = n.oid AND r.relname = k.tab JOIN pg_constraint c ON c.conrelid = r.oid AND c.conname = k.name",
        ([t.schema for t, _ in keys], [t.name for t, _ in keys], [n for _, n in keys])).fetchall()
    return {(QualifiedName(schema, table), name): bool(valid) for schema, table, name, valid in rows}


def relkind(conn: psycopg.Connection, table: QualifiedName) -> str | None:
    """pg_class.relkind of the relation by that name ('r' table, 'p' partitioned, 'v' view, ...), None if none:
    the one lookup of what a name is."""
    memo = getattr(_held, "memo", None)
    key = ("relkind", id(conn), table.schema, table.name)
    if memo is not None and key in memo:
        return memo[key]
    row = conn.execute(
        "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s", (table.schema, table.name)).fetchone()
    kind = row[0] if row else None
    if memo is not None:
        memo[key] = kind
    return kind


def relkinds(conn: psycopg.Connection, tables: tuple[QualifiedName, ...]) -> dict[QualifiedName, str | None]:
    """relkind of several names in one query, asked afresh even within names_held, whose memo it then fills."""
    rows = conn.execute(
        # A lookup by oid per name: planned in a tenth of the time a join over pg_namespace and pg_class takes.
        "SELECT (SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(format('%%I.%%I', u.s, u.t))) "
        "FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY u(s, t, n) ORDER BY u.n",
        ([t.schema for t in tables], [t.name for t in tables])).fetchall()
    kinds = {table: row[0] for table, row in zip(tables, rows, strict=True)}
    memo = getattr(_held, "memo", None)
    if memo is not None:
        memo.update({("relkind", id(conn), t.schema, t.name): kind for t, kind in kinds.items()})
    return kinds


def table_exists(conn: psycopg.Connection, table: QualifiedName) -> bool:
    return relkind(conn, table) in ("r", "p")


# The marker fkguard writes on every index it builds (COMMENT ON INDEX): what tells its own from a team's
# index of the same default name (`<table>_<columns>_idx` is also PostgreSQL's name for CREATE INDEX ON t (c)).
BUILT_BY_FKGUARD = "fkguard: built to support a foreign key"

# For each wanted (table, columns): the indexes that start with exactly those columns, in any order (a btree
# serves either), valid ones first. One query for a whole catalog: the program asks it of every key.
# fkguard's own: marked by its comment, or still under the name it is built under (ddl.BUILDING_PREFIX).
OURS = sql.SQL("(coalesce(starts_with(obj_description(i.indexrelid, 'pg_class'), %s), false) "
               "OR starts_with(c.relname, %s))")
_LEADING = sql.SQL("SELECT w.k, n.nspname, c.relname, i.indisvalid AND i.indisready, pg_get_indexdef(i.indexrelid), "
                   "{ours} "
                   "FROM jsonb_to_recordset(%s::jsonb) AS w(k int, rel text, cols text[]) "
                   "JOIN pg_index i ON i.indrelid = to_regclass(w.rel) "
                   "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE i.indpred IS NULL AND "
                   "(SELECT array_agg(a.attname::text ORDER BY a.attname) "
                   "FROM unnest((i.indkey::int2[])[0:cardinality(w.cols) - 1]) k(n) "
                   "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n) = w.cols "
                   "ORDER BY w.k, NOT i.indisvalid, c.relname").format(ours=OURS)


@dataclass(frozen=True)
class LiveIndex:
    schema: str
    name: str
    valid: bool  # an INVALID one (a failed CONCURRENTLY build) serves no lookup
    definition: str
    fkguards: bool = False  # fkguard built it (OURS), and drops it with the last key needing it


def leading_indexes_of(conn: psycopg.Connection,
                       wanted: Sequence[tuple[QualifiedName, tuple[str, ...]]]) -> list[list[LiveIndex]]:
    """leading_indexes for each (table, columns), in one query."""
    if not wanted:
        return []
    keys = [{"k": k, "rel": ddl.table_ref(table).as_string(conn), "cols": sorted(columns)}
            for k, (table, columns) in enumerate(wanted)]
    found: list[list[LiveIndex]] = [[] for _ in wanted]
    for k, *row in conn.execute(_LEADING, (BUILT_BY_FKGUARD, ddl.BUILDING_PREFIX, json.dumps(keys))):
        found[k].append(LiveIndex(*row))
    return found


def leading_indexes(conn: psycopg.Connection, table: QualifiedName, columns: tuple[str, ...]) -> list[LiveIndex]:
    """The indexes of `table` (not partial) whose leading columns are `columns`, valid ones first."""
    return leading_indexes_of(conn, [(table, columns)])[0]


def foreign_keys_on(conn: psycopg.Connection, table: QualifiedName, columns: tuple[str, ...]) -> list[str]:
    """The foreign keys of `table` over exactly these columns (any order): what an index leading with them serves."""
    rows = conn.execute(
        "SELECT c.conname FROM pg_constraint c WHERE c.contype = 'f' AND c.conrelid = to_regclass(%s) AND "
        "(SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a "
        "WHERE a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)) = %s ORDER BY c.conname",
        (ddl.table_ref(table).as_string(conn), sorted(columns)))
    return [name for (name,) in rows]


def has_leading_index(conn: psycopg.Connection, fk: ForeignKey) -> bool:
    """Whether some valid index starts with the referencing columns (what ON DELETE checks and joins need)."""
    return any(index.valid for index in leading_indexes(conn, fk.table, fk.columns))


# A primary key or unique constraint over exactly these columns, in any order: what PostgreSQL
# requires of the referenced side (a partial or expression index does not count).
_UNIQUE = ("SELECT 1 FROM pg_index i WHERE i.indrelid = %s::regclass AND i.indisunique AND i.indpred IS NULL "
           "AND i.indexprs IS NULL AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a "
           "WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = %s")


def has_unique_key(conn: psycopg.Connection, table: QualifiedName, columns: tuple[str, ...]) -> bool:
    regclass = ddl.table_ref(table).as_string(conn)
    return conn.execute(_UNIQUE, (regclass, sorted(columns))).fetchone() is not None
