"""The supporting index of a foreign key: an index that leads with its referencing columns, so that a
delete or key update of a parent finds the children without scanning the child table (once per parent
row, inside the application's transaction; see issue 12's measure).

What fkguard does with it (catalog field `index`, fkguard.catalog.INDEX_CHOICES): a valid index whose
leading columns are the referencing columns already exists: adopt it, recorded as not fkguard's, so it is
never dropped by fkguard; otherwise build `<table>_<columns>_idx` (ddl.index_name, at most 63 bytes)
CONCURRENTLY, and drop it with the last key that needs it (fkguard.operations.build_index, drop_index).
This module says what an index is: the one wanted, the one found, and fkguard's mark on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from fkguard import ddl, introspect, partitions, resource_properties
from fkguard.catalog import QualifiedName
from fkguard.errors import FkguardError
from fkguard.locks import LockPolicy, run_locked
from fkguard.stack import state as stackstate

# The SupportingIndex resource's name and type in a stack's state (resources/supporting_index.py declares it).
TYPE_NAME = "SupportingIndex"
RESOURCE_TYPE = resource_properties.type_token(TYPE_NAME)


def serving_only(resources: list[stackstate.Recorded], urns: set[str]) -> list[stackstate.Recorded]:
    """The supporting indexes recorded in a stack that only these resources depend on: what a rollback of
    them takes too (an adopted one leaves the state only; its delete drops nothing)."""
    found = []
    for index in (r for r in resources if r.type == RESOURCE_TYPE):
        users = {r.urn for r in resources if index.urn in r.dependencies}
        if users and users <= urns:
            found.append(index)
    return found


class IndexBuildError(FkguardError):
    """A supporting index that could not be built or dropped; the message says what is left and what to do."""


@dataclass(frozen=True)
class Wanted:
    """The index one or more catalog keys need: these columns of this table, leading."""

    table: QualifiedName
    columns: tuple[str, ...]

    @property
    def name(self) -> str:
        return ddl.index_name(self.table, self.columns)


def read(conn: psycopg.Connection, schema: str, name: str) -> introspect.LiveIndex | None:
    """The index of this name as PostgreSQL has it (valid or not), or None."""
    row = conn.execute(
        sql.SQL("SELECT n.nspname, c.relname, i.indisvalid AND i.indisready, pg_get_indexdef(i.indexrelid), "
                "{ours} FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s").format(ours=introspect.OURS),
        (introspect.BUILT_BY_FKGUARD, ddl.BUILDING_PREFIX, schema, name)).fetchone()
    return introspect.LiveIndex(*row) if row else None


def adoptable(conn: psycopg.Connection, wanted: Wanted) -> introspect.LiveIndex | None:
    """A valid index that already leads with the columns: it serves, so nothing is built."""
    return next((i for i in introspect.leading_indexes(conn, wanted.table, wanted.columns) if i.valid), None)


def tree(conn: psycopg.Connection, table: QualifiedName) -> list[tuple[QualifiedName, QualifiedName, bool]]:
    """The table's partitions as (partition, its parent, is a leaf), the shape ddl.index_steps reads."""
    return [(p.table, p.parent, p.leaf) for p in partitions.tree(conn, table)]


def row_estimate(conn: psycopg.Connection, table: QualifiedName) -> int:
    """Rows in the table and its partitions, as the planner's statistics have them (no scan); a table
    never analyzed (reltuples -1) is counted."""
    regclass = ddl.table_ref(table).as_string(conn)
    rows = conn.execute(
        "SELECT n.nspname, c.relname, c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'r' AND c.oid IN "
        "(SELECT to_regclass(%s) UNION SELECT relid FROM pg_partition_tree(to_regclass(%s)))",
        (regclass, regclass)).fetchall()
    total = 0
    for schema, name, tuples in rows:
        if tuples >= 0:
            total += int(tuples)
        else:
            counted = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))).fetchone()
            total += int(counted[0]) if counted else 0
    return total


def unmanaged(conn: psycopg.Connection, wanted: Sequence[Wanted]) -> set[Wanted]:
    """The wanted indexes that need no SupportingIndex resource: a valid index not fkguard's already serves,
    and none of fkguard's leads with the columns. One query for the whole catalog (the program asks it once
    per run): a resource per adopted index was half of a big catalog's resources, and Pulumi's engine pays
    for each resource in every step's snapshot (issue 12's profile)."""
    found = introspect.leading_indexes_of(conn, [(w.table, w.columns) for w in wanted])
    return {w for w, indexes in zip(wanted, found, strict=True)
            if any(i.valid and not i.fkguards for i in indexes) and not any(i.fkguards for i in indexes)}


def mark_statement(schema: str, name: str) -> sql.Composed:
    return ddl.mark_index(schema, name, f"{introspect.BUILT_BY_FKGUARD}; fkguard drops it with the last key that needs it")


def mark(conn: psycopg.Connection, schema: str, name: str, table: QualifiedName, policy: LockPolicy) -> str:
    """Mark the index as fkguard's (its comment): a later run, or another checkout's state, knows it by that."""
    statement = mark_statement(schema, name)
    run_locked(conn, [statement], [table], policy, what=f"marking {schema}.{name} as fkguard's")
    return statement.as_string(conn)
