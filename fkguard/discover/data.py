"""Candidates from the data for `fkguard discover`: inclusion dependencies between a column and another
table's single-column unique key, found cheaply before any exact check.

1. One pass of statistics, one query per table: for each column of a type a key can have (integers, uuid,
   text), its non-null count, distinct count, least and greatest value, and a handful of its distinct
   values picked by hash (spread over the range, the least and greatest among them). Tables above the
   sampling limit are read through the same repeatable TABLESAMPLE as the audit's sampled count.
2. Cheap filters: a compatible type (integers with integers, else the same type), the column's range
   inside the key's, no more distinct values than the key has.
3. The sampled anti-join: for each unique key, one query asks which of the values sampled from every
   column still in the running are in the key. A column whose sampled values all are is a candidate.

The exact check (the audit's predicate over every row, or its sample) is the caller's, on the few
candidates the ranking keeps. Only aggregates and a few values per column come back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from fkguard import ddl, orphans
from fkguard.catalog import QualifiedName
from fkguard.discover.schema import Table

SAMPLED_VALUES = 12   # distinct values per column taken for the sampled anti-join
INTEGERS = frozenset({"smallint", "integer", "bigint"})
STRONG = frozenset({"uuid", "text", "character varying", "character", "citext"})  # values seldom equal by chance
TIMEOUT = "30s"       # per statement: a statistics query on one table, or one key's probe


@dataclass
class Profile:
    table: QualifiedName
    column: str
    type: str                     # format_type without its modifier (character varying, integer, uuid, ...)
    values: int = 0               # non-null values (in the sample, when sampled)
    distinct: int = 0
    low: int | str | None = None
    high: int | str | None = None
    sample: list[int] | list[str] = field(default_factory=list)
    sampled: bool = False         # read through TABLESAMPLE: the counts and range are the sample's

    @property
    def integer(self) -> bool:
        return self.type in INTEGERS

    @property
    def dense(self) -> bool:
        """Integers with no gap from the least to the greatest (a serial key with nothing deleted)."""
        return (self.integer and not self.sampled and isinstance(self.low, int) and isinstance(self.high, int)
                and self.distinct == self.high - self.low + 1)


@contextmanager
def bounded(conn: psycopg.Connection) -> Iterator[None]:
    """A transaction whose statements stop at TIMEOUT (psycopg.errors.QueryCanceled): discover reads a live
    database and must never hold it up with one long scan."""
    with conn.transaction():
        conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(TIMEOUT)))
        yield


def comparable(a: str, b: str) -> bool:
    return a == b or (a in INTEGERS and b in INTEGERS) or (a in STRONG and b in STRONG and "uuid" not in (a, b))


def column_types(conn: psycopg.Connection, tables: dict[int, Table]) -> dict[tuple[QualifiedName, str], str]:
    """Each column's type, base types for domains, without modifiers; only the kinds a key is made of."""
    found = {}
    for oid, column, typ in conn.execute(
            "SELECT a.attrelid::int8, a.attname, format_type(coalesce(nullif(t.typbasetype, 0), a.atttypid), NULL) "
            "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = ANY(%s::oid[]) "
            "AND a.attnum > 0 AND NOT a.attisdropped", (list(tables),)):
        if typ in INTEGERS or typ in STRONG:
            found[(tables[oid].name, column)] = typ
    return found


def generated_columns(conn: psycopg.Connection, tables: dict[int, Table]) -> set[tuple[QualifiedName, str]]:
    """Columns something fills in: a default (a serial's nextval, gen_random_uuid()), identity, generated."""
    return {(tables[oid].name, column) for oid, column in conn.execute(
        "SELECT attrelid::int8, attname FROM pg_attribute WHERE attrelid = ANY(%s::oid[]) AND attnum > 0 "
        "AND NOT attisdropped AND (atthasdef OR attidentity <> '' OR attgenerated <> '')", (list(tables),))}


def profile_table(conn: psycopg.Connection, table: QualifiedName, columns: list[tuple[str, str]],
                  sample_percent: float | None) -> list[Profile]:
    """The statistics and sampled values of the table's columns, in one statement."""
    if not columns:
        return []
    source = sql.SQL("{} {}").format(ddl.table_ref(table), orphans.tablesample(sample_percent)) \
        if sample_percent is not None else ddl.table_ref(table)
    parts = []
    for column, typ in columns:
        c = sql.Identifier(column)
        order = sql.SQL("md5(x::text)")
        parts.append(sql.SQL(
            "count({c}), count(DISTINCT {c}), min({c}{cast})::text, max({c}{cast})::text, "
            "(SELECT array_agg(x::text) FROM (SELECT x FROM (SELECT DISTINCT {c} AS x FROM r WHERE {c} IS NOT NULL) d "
            "ORDER BY {order} LIMIT {n}) s)").format(
            c=c, cast=sql.SQL("::text" if typ == "uuid" else ""), order=order, n=sql.Literal(SAMPLED_VALUES)))
    query = sql.SQL("WITH r AS MATERIALIZED (SELECT * FROM {}) SELECT {} FROM r").format(source, sql.SQL(", ").join(parts))
    with bounded(conn):
        row = conn.execute(query).fetchone()
    found = []
    for i, (column, typ) in enumerate(columns):
        values, distinct, low, high, sample = row[5 * i: 5 * i + 5] if row else (0, 0, None, None, None)
        p = Profile(table, column, typ, int(values), int(distinct), sampled=sample_percent is not None)
        if typ in INTEGERS and low is not None:
            p.low, p.high = int(low), int(high)
            p.sample = sorted({int(v) for v in (sample or [])} | {p.low, p.high})
        else:
            p.low, p.high = low, high
            p.sample = sorted({str(v) for v in (sample or [])} | {str(v) for v in (low, high) if v is not None})
        found.append(p)
    return found


def whole_key(conn: psycopg.Connection, key: Profile, rows: int) -> None:
    """A sampled table's unique key as a whole: its least and greatest values (read from its index), and as
    many distinct values as the table has rows, so the filters do not judge a column by a sample of its key."""
    cast = sql.SQL("::text" if key.type == "uuid" else "")
    query = sql.SQL("SELECT min({c}{cast})::text, max({c}{cast})::text FROM {t}").format(
        c=sql.Identifier(key.column), cast=cast, t=ddl.table_ref(key.table))
    with bounded(conn):
        row = conn.execute(query).fetchone()
    low, high = row if row else (None, None)
    key.low, key.high = (int(low), int(high)) if key.integer and low is not None else (low, high)
    key.distinct = max(key.distinct, rows)


def _fits(child: Profile, key: Profile) -> bool:
    """The cheap filters: type, range, distinct count."""
    if not child.values or not key.values or not comparable(child.type, key.type):
        return False
    if child.distinct > key.distinct:
        return False
    if child.integer:
        assert isinstance(child.low, int) and isinstance(child.high, int)
        return isinstance(key.low, int) and isinstance(key.high, int) and key.low <= child.low and child.high <= key.high
    return key.low is not None and key.high is not None and str(key.low) <= str(child.low) and str(child.high) <= str(key.high)


def probe(conn: psycopg.Connection, key: Profile, children: list[Profile]) -> list[Profile]:
    """The sampled anti-join for one key: the children whose sampled values are all in it."""
    if key.dense:  # every integer of the key's range is a key value: the filters said it all
        return children
    wanted = sorted({v for c in children for v in c.sample}, key=str)
    if not wanted:
        return []
    array = sql.SQL("bigint[]" if key.integer else "uuid[]" if key.type == "uuid" else "text[]")
    # Qualified: the key's table may have a column of the alias's name (OpenStreetMap's acls has a `v`).
    query = sql.SQL("SELECT fkguard_probe.value::text FROM unnest({}::{}) AS fkguard_probe(value) "
                    "WHERE EXISTS (SELECT 1 FROM {} k WHERE k.{} = fkguard_probe.value)").format(
        sql.Literal([str(v) for v in wanted] if not key.integer else wanted), array, ddl.table_ref(key.table),
        sql.Identifier(key.column))
    try:
        with bounded(conn):
            present = {r[0] for r in conn.execute(query)}
    except psycopg.errors.QueryCanceled:
        return []  # a key too slow to probe: its candidates are left to the names
    return [c for c in children if all(str(v) in present for v in c.sample)]


def inclusions(conn: psycopg.Connection, profiles: Iterable[Profile], keys: list[Profile]) -> list[tuple[Profile, Profile]]:
    """(column, key) pairs whose sampled values all are in the key, the cheap filters first."""
    found = []
    columns = list(profiles)
    for key in keys:
        children = [c for c in columns if not (c.table == key.table and c.column == key.column) and _fits(c, key)]
        if children:
            found += [(c, key) for c in probe(conn, key, children)]
    return found
