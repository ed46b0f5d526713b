"""Foreign keys whose referencing table is partitioned, before PostgreSQL 18.

PostgreSQL < 18 refuses ADD … NOT VALID on a partitioned table (and on a sub-partitioned one), so
the safe rollout is done per leaf partition, where NOT VALID works:

  1. ADD … NOT VALID on each leaf partition, one brief lock each, under the same name on every leaf.
  2. VALIDATE CONSTRAINT on each leaf, each in its own transaction (writes continue).
  3. ADD the constraint on the partitioned table itself, without NOT VALID. PostgreSQL looks in each
     partition for an identical constraint (tryAttachPartitionForeignKey) and attaches it instead of
     making a new one, so nothing is scanned. Measured on 15: it attaches only *validated* ones; a
     NOT VALID leaf constraint is left beside a new constraint of a generated name that scans the
     leaf. Hence step 2 before step 3. Intermediate partitioned tables (which refuse NOT VALID too)
     get their constraint from step 3's cascade, under the same name, with their leaves' attached:
     nothing is stored in them, so nothing is scanned (tests/test_partitions.py checks the counters).

How the catalog's two states map, since the parent's constraint can only exist validated:
  "added, not validated" = NOT VALID (or validated) on every leaf, nothing on the parent;
  "validated"            = the parent's constraint, with every partition's attached and validated.
Anything in between (some leaves without it, or every leaf validated but no parent yet) reads as
"absent" or "not valid", and the next create or validate adopts what exists and finishes the rest,
so a step interrupted by a crash converges on the next `pulumi up`.

Dropping the parent's constraint drops the attached ones (PostgreSQL 15 refuses to drop them
alone: "cannot drop inherited constraint"); leaf constraints still NOT VALID are dropped one by one.

PostgreSQL 18 allows NOT VALID on a partitioned table and VALIDATE of it: fkguard.operations then take
its ordinary path (uses_leaves is False).
"""

from __future__ import annotations

import dataclasses

import psycopg

from fkguard import ddl, introspect
from fkguard.catalog import ForeignKey, QualifiedName

# The first major version that adds NOT VALID foreign keys to partitioned tables.
NOT_VALID_ON_PARTITIONED = 180000


def uses_leaves(conn: psycopg.Connection, table: QualifiedName) -> bool:
    """Must this table's foreign keys be rolled out per leaf partition (PostgreSQL < 18, partitioned)?"""
    return conn.info.server_version < NOT_VALID_ON_PARTITIONED and introspect.relkind(conn, table) == "p"


_TREE = """
SELECT n.nspname, c.relname, pn.nspname, pc.relname, t.isleaf, t.level, c.relkind
FROM pg_partition_tree(to_regclass(%s)) t
JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class pc ON pc.oid = t.parentrelid LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
WHERE t.level > 0
ORDER BY t.level, n.nspname, c.relname
"""


@dataclasses.dataclass(frozen=True)
class Partition:
    table: QualifiedName
    parent: QualifiedName
    leaf: bool
    level: int
    relkind: str


def tree(conn: psycopg.Connection, table: QualifiedName) -> list[Partition]:
    """Every partition under `table`, sub-partitions too, shallowest first (pg_partition_tree)."""
    rows = conn.execute(_TREE, (ddl.table_ref(table).as_string(conn),)).fetchall()
    return [Partition(QualifiedName(s, n), QualifiedName(ps, pn), bool(leaf), level, kind)
            for s, n, ps, pn, leaf, level, kind in rows]


def leaves(conn: psycopg.Connection, table: QualifiedName) -> list[QualifiedName]:
    """The partitions that hold rows: where the NOT VALID constraints go."""
    return [p.table for p in tree(conn, table) if p.leaf]


def on(fk: ForeignKey, table: QualifiedName) -> ForeignKey:
    """The same foreign key on one partition: the same name, so step 3 finds and attaches it."""
    return dataclasses.replace(fk, table=table)


def read(conn: psycopg.Connection, fk: ForeignKey) -> introspect.LiveConstraint | None:
    """The constraint as one, per the mapping above: the parent's if it has one; else, when every leaf
    has it, a NOT VALID one with the definition of a leaf (one that differs from the catalog first, so
    drift shows); else None."""
    parent = introspect.read_constraint(conn, fk.table, fk.name)
    if parent is not None:
        return parent
    found = [introspect.read_constraint(conn, leaf, fk.name) for leaf in leaves(conn, fk.table)]
    if not found or any(f is None for f in found):
        return None
    chosen = next((f for f in found if f is not None and not f.same_as(fk)), None)
    chosen = chosen or next((f for f in found if f is not None and not f.validated), found[0])
    assert chosen is not None
    return dataclasses.replace(chosen, table=fk.table, validated=False)


def leaf_states(conn: psycopg.Connection, fk: ForeignKey) -> dict[QualifiedName, introspect.LiveConstraint | None]:
    """Each leaf's constraint of this name, or None where it has none."""
    return {leaf: introspect.read_constraint(conn, leaf, fk.name) for leaf in leaves(conn, fk.table)}
