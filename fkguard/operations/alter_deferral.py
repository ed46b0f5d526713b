"""ALTER CONSTRAINT [NOT] DEFERRABLE [INITIALLY DEFERRED], in place: the constraint keeps its validation,
where drop-and-add would leave writes unchecked for a moment and need a new VALIDATE scan."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from fkguard import ddl, introspect, partitions
from fkguard.catalog import ForeignKey
from fkguard.locks import LockPolicy, run_locked
from fkguard.operations.outcomes import ConstraintOutcome, observe


@dataclass(frozen=True)
class AlterDeferral:
    """Make the existing constraint [NOT] DEFERRABLE [INITIALLY DEFERRED] as the catalog says."""

    fk: ForeignKey
    policy: LockPolicy

    def plan_sql(self, conn: psycopg.Connection) -> list[str]:
        return [f"{ddl.alter_deferrable(self.fk).as_string(conn)};  -- ACCESS EXCLUSIVE on {self.fk.table}, held for "
                f"milliseconds: no scan, and the constraint keeps its validation"]

    def run(self, conn: psycopg.Connection) -> ConstraintOutcome:
        fk = self.fk
        # The parent's ALTER CONSTRAINT reaches its partitions' attached ones; without it, each leaf's own.
        on_tables = [fk.table]
        if partitions.uses_leaves(conn, fk.table) and introspect.read_constraint(conn, fk.table, fk.name) is None:
            on_tables = partitions.leaves(conn, fk.table)
        ran = []
        for table in on_tables:
            statement = ddl.alter_deferrable(partitions.on(fk, table))
            run_locked(conn, [statement], [table, fk.references], self.policy, what=f"altering {fk.name} on {table}")
            ran.append(statement.as_string(conn))
        return observe(conn, fk, ran)
