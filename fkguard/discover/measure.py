"""The checks and the data of one candidate: fkguard's own checks, the share of keys with a parent, the confidence."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from fkguard import column_types, ddl, indexes, introspect, orphans
from fkguard.catalog import QualifiedName
from fkguard.discover import data
from fkguard.discover.model import Candidate


def type_problem(conn: psycopg.Connection, candidate: Candidate) -> str:
    """'' when fkguard's own checks accept the pair; otherwise why not. Fills candidate.types."""
    if not introspect.has_unique_key(conn, candidate.references, candidate.referenced_columns):
        return f"no unique key over {candidate.references} ({', '.join(candidate.referenced_columns)})"
    pairs = column_types.pairings(conn, candidate.foreign_key())
    candidate.types = "; ".join(f"{p.mine} -> {p.theirs} ({p.verdict})" for p in pairs)
    blocking = [p for p in pairs if p.blocking]
    return f"types: {blocking[0].column} {blocking[0].mine} -> {blocking[0].theirs}: {blocking[0].reason}" if blocking else ""


class Sizes:
    """Rows per table: exact (count) at or below SAMPLE_ABOVE by the planner's estimate, the estimate above."""

    def __init__(self, conn: psycopg.Connection, sample_above: int) -> None:
        self.conn, self.sample_above = conn, sample_above
        self.known: dict[QualifiedName, int] = {}

    def estimate(self, table: QualifiedName) -> int:
        return indexes.row_estimate(self.conn, table)

    def rows(self, table: QualifiedName) -> int:
        if table not in self.known:
            estimate = self.estimate(table)
            if estimate <= self.sample_above:
                row = self.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ddl.table_ref(table))).fetchone()
                estimate = int(row[0]) if row else 0
            self.known[table] = estimate
        return self.known[table]


def finished_in_time(conn: psycopg.Connection, action: Callable[[], object]) -> bool:
    """Run action with discover's statement_timeout (fkguard.discover.data.TIMEOUT); False when it ran past it."""
    try:
        with data.bounded(conn):
            action()
    except psycopg.errors.QueryCanceled:
        return False
    return True


def measure(conn: psycopg.Connection, candidate: Candidate, sizes: Sizes, sample_rows: int) -> None:
    """The share of keys with a parent (sampled on a big table), the row counts and the supporting index."""
    candidate.rows, candidate.parent_rows = sizes.rows(candidate.table), sizes.rows(candidate.references)
    fk = candidate.foreign_key()
    if candidate.rows > sizes.sample_above:
        candidate.sample_percent = max(min(100.0, round(100.0 * sample_rows / candidate.rows, 4)), 0.0001)
    candidate.keys, candidate.orphans = orphans.count_keys_and_orphans(conn, fk, candidate.sample_percent)
    found = [i for i in introspect.leading_indexes(conn, candidate.table, candidate.columns) if i.valid]
    candidate.index = found[0].name if found else None


def confidence(candidate: Candidate) -> float:
    share = candidate.share
    value = candidate.name_score * (0.5 if share is None else share)
    if candidate.keys and candidate.keys < 10:
        value *= 0.8  # a handful of keys proves little
    if candidate.ambiguous:
        value *= 0.8
    return round(value, 3)
