"""DROP CONSTRAINT IF EXISTS, and on a partitioned table before PostgreSQL 18 the leaves' own constraints
that no parent constraint took with it (still NOT VALID, or never attached)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from fkguard import ddl, introspect, partitions
from fkguard.catalog import ForeignKey
from fkguard.locks import LockPolicy, run_locked
from fkguard.operations.outcomes import ConstraintOutcome


@dataclass(frozen=True)
class DropConstraint:
    """Drop the constraint; a table that is gone has nothing left to drop."""

    fk: ForeignKey
    policy: LockPolicy

    def plan_sql(self, conn: psycopg.Connection) -> list[str]:
        fk = self.fk
        if not introspect.table_exists(conn, fk.table):
            return [f"-- {fk.table} does not exist: nothing to drop"]
        plan = [f"{ddl.drop(fk).as_string(conn)};  -- a brief lock on {fk.table} and {fk.references}: no scan"]
        if partitions.uses_leaves(conn, fk.table) and introspect.read_constraint(conn, fk.table, fk.name) is None:
            plan += [f"{ddl.drop(partitions.on(fk, leaf)).as_string(conn)};  -- partition of {fk.table}: a brief lock "
                     f"on {leaf} and {fk.references}: no scan"
                     for leaf, found in partitions.leaf_states(conn, fk).items() if found is not None]
        return plan

    def run(self, conn: psycopg.Connection) -> ConstraintOutcome:
        fk, policy = self.fk, self.policy
        if not introspect.table_exists(conn, fk.table):
            return ConstraintOutcome(exists=False, sql=[f"-- {fk.table} does not exist: nothing to drop"])
        statement = ddl.drop(fk)
        run_locked(conn, [statement], [fk.table, fk.references], policy, what=f"dropping {fk.name}")
        ran = [statement.as_string(conn)]
        if partitions.uses_leaves(conn, fk.table):
            # The parent's drop took the attached ones; what is left are leaves still NOT VALID (or never attached).
            for leaf, found in partitions.leaf_states(conn, fk).items():
                if found is not None:
                    statement = ddl.drop(partitions.on(fk, leaf))
                    run_locked(conn, [statement], [leaf, fk.references], policy, what=f"dropping {fk.name} on {leaf}")
                    ran.append(statement.as_string(conn))
        return ConstraintOutcome(exists=False, sql=ran)
