"""ADD CONSTRAINT … NOT VALID: the foreign key checks new writes at once, and takes only a brief lock,
since no existing row is scanned. On a partitioned table before PostgreSQL 18, which refuses NOT VALID
there, it goes on each leaf partition instead (step 1 of fkguard.partitions)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from fkguard import ddl, introspect, ownership, partitions
from fkguard.catalog import ForeignKey, QualifiedName
from fkguard.locks import LockPolicy, run_locked
from fkguard.operations.outcomes import ConstraintOutcome, observe
from fkguard.rollout import RolloutError


def split_leaves(conn: psycopg.Connection, table: QualifiedName) -> list[QualifiedName] | None:
    """The leaf partitions a constraint on this table goes on one by one, or None if it goes on the table."""
    return partitions.leaves(conn, table) if partitions.uses_leaves(conn, table) else None


def plan(conn: psycopg.Connection, fk: ForeignKey, leaves: list[QualifiedName] | None,
         stack: str | None = None) -> list[str]:
    """The ADD statements for this table, or these leaves (split_leaves), each with the locks it takes; with
    `stack`, the mark naming it (fkguard.ownership) in the ADD's transaction."""
    if leaves is None:
        marked = [f"{ownership.mark_statement(fk, stack).as_string(conn)};  -- in the same transaction: the stack "
                  f"that owns the key"] if stack else []
        return [f"{ddl.add_not_valid(fk).as_string(conn)};  -- SHARE ROW EXCLUSIVE on {fk.table} and "
                f"{fk.references}, held for milliseconds: no scan", *marked]
    return [f"{ddl.add_not_valid(partitions.on(fk, leaf)).as_string(conn)};  -- partition of {fk.table}: SHARE ROW "
            f"EXCLUSIVE on {leaf} and {fk.references}, held for milliseconds: no scan" for leaf in leaves]


def _adopt_or_refuse(found: introspect.LiveConstraint, fk: ForeignKey) -> str:
    if not found.same_as(fk):
        raise RolloutError(
            f"{fk.table} already has a constraint named {fk.name} with another definition "
            f"({found.definition}); drop or rename it, or change this constraint's name", constraint=fk.name
        )
    return f"-- adopted the existing constraint {fk.name}, which matches"


@dataclass(frozen=True)
class AddNotValid:
    """Add the constraint NOT VALID, or adopt an identical one that already exists. With `stack`, the key is
    marked as that stack's, and one another stack's mark names is refused (fkguard.ownership)."""

    fk: ForeignKey
    policy: LockPolicy
    stack: str | None = None

    def plan_sql(self, conn: psycopg.Connection) -> list[str]:
        return plan(conn, self.fk, split_leaves(conn, self.fk.table), self.stack)

    def run(self, conn: psycopg.Connection) -> ConstraintOutcome:
        fk = self.fk
        found = introspect.read_constraint(conn, fk.table, fk.name)
        if found is not None:
            ownership.refuse_foreign(conn, fk, self.stack, f"adding {fk.name}")
            return observe(conn, fk, [_adopt_or_refuse(found, fk), *self._claim(conn)])
        if partitions.uses_leaves(conn, fk.table):
            return observe(conn, fk, self._run_per_leaf(conn))
        statements = [ddl.add_not_valid(fk), *([ownership.mark_statement(fk, self.stack)] if self.stack else [])]
        run_locked(conn, statements, [fk.table, fk.references], self.policy, what=f"adding {fk.name}")
        return observe(conn, fk, [s.as_string(conn) for s in statements])

    def _claim(self, conn: psycopg.Connection) -> list[str]:
        """Mark an adopted key that carries no comment at all as this stack's (a team's own comment stays)."""
        if not self.stack or ownership.comment(conn, self.fk)[1] is not None:
            return []
        statement = ownership.mark_statement(self.fk, self.stack)
        run_locked(conn, [statement], [self.fk.table], self.policy, what=f"marking {self.fk.name} as {self.stack}'s")
        return [statement.as_string(conn)]

    def _run_per_leaf(self, conn: psycopg.Connection) -> list[str]:
        """NOT VALID on each leaf still without it, one brief lock each."""
        fk, policy = self.fk, self.policy
        states = partitions.leaf_states(conn, fk)
        if not states:  # no partition yet: nothing to scan, so the parent's constraint is added at once, validated
            statement = ddl.add_attaching(fk)
            run_locked(conn, [statement], [fk.table, fk.references], policy, what=f"adding {fk.name}")
            return [statement.as_string(conn)]
        ran = []
        for leaf, found in states.items():
            on_leaf = partitions.on(fk, leaf)
            if found is not None:
                ran.append(f"{_adopt_or_refuse(found, on_leaf)} on {leaf}")
                continue
            statement = ddl.add_not_valid(on_leaf)
            run_locked(conn, [statement], [leaf, fk.references], policy, what=f"adding {fk.name} on {leaf}")
            ran.append(statement.as_string(conn))
        return ran
