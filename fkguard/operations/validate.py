"""VALIDATE CONSTRAINT, in a transaction of its own: it scans the table for orphans under SHARE UPDATE
EXCLUSIVE, so reads and writes go on during the scan. On a partitioned table before PostgreSQL 18 each
leaf is validated, then the parent's constraint is added, which attaches them without a scan (steps 2
and 3 of fkguard.partitions)."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import errors

from fkguard import ddl, introspect, orphans, partitions
from fkguard.catalog import ForeignKey, QualifiedName
from fkguard.locks import LockPolicy, run_locked
from fkguard.operations.add_not_valid import split_leaves
from fkguard.operations.outcomes import ConstraintOutcome, observe
from fkguard.rollout import RolloutError


def plan(conn: psycopg.Connection, fk: ForeignKey, leaves: list[QualifiedName] | None) -> list[str]:
    """The VALIDATE statements for this table, or these leaves (split_leaves) and then the attaching ADD."""
    if leaves is None:
        return [f"{ddl.validate(fk).as_string(conn)};  -- in its own transaction: SHARE UPDATE EXCLUSIVE on "
                f"{fk.table}, ROW SHARE on {fk.references}: reads and writes continue during the scan"]
    steps = [f"{ddl.validate(partitions.on(fk, leaf)).as_string(conn)};  -- in its own transaction: SHARE UPDATE "
             f"EXCLUSIVE on {leaf}, ROW SHARE on {fk.references}: reads and writes continue during the scan"
             for leaf in leaves]
    steps.append(f"{ddl.add_attaching(fk).as_string(conn)};  -- SHARE ROW EXCLUSIVE on {fk.table}, its partitions "
                 f"and {fk.references}, held for milliseconds: attaches the validated partition constraints, no scan "
                 f"(PostgreSQL {conn.info.server_version // 10000} refuses NOT VALID on a partitioned table)")
    return steps


def _validate_one(conn: psycopg.Connection, fk: ForeignKey, policy: LockPolicy) -> str:
    """VALIDATE in a transaction of its own; on orphans, say how many and show some."""
    statement = ddl.validate(fk)
    try:
        run_locked(conn, [statement], [fk.table, fk.references], policy, what=f"validating {fk.name}")
    except errors.ForeignKeyViolation:
        count = orphans.count_orphans(conn, fk)
        sample = orphans.describe_keys(fk, orphans.sample_orphan_keys(conn, fk, 5))
        raise RolloutError(
            f"VALIDATE CONSTRAINT {fk.name} failed: {count} rows of {fk.table} have no parent in {fk.references} "
            f"(e.g. {sample}). The constraint stays NOT VALID and still checks new writes. Remediate them "
            f"(fkguard audit / remediate), then run pulumi up again", constraint=fk.name
        ) from None
    except errors.QueryCanceled:
        raise RolloutError(
            f"VALIDATE CONSTRAINT {fk.name} was cancelled by fkguard:statementTimeout; the constraint stays NOT "
            f"VALID. Raise the timeout or validate in a quieter hour", constraint=fk.name
        ) from None
    return statement.as_string(conn)


@dataclass(frozen=True)
class Validate:
    """Validate the constraint; its outcome's `sql` is `ran` (what the steps before it ran) and then its own."""

    fk: ForeignKey
    policy: LockPolicy
    ran: list[str] = field(default_factory=list)

    def plan_sql(self, conn: psycopg.Connection) -> list[str]:
        return plan(conn, self.fk, split_leaves(conn, self.fk.table))

    def run(self, conn: psycopg.Connection) -> ConstraintOutcome:
        fk = self.fk
        done = list(self.ran)
        if partitions.uses_leaves(conn, fk.table) and introspect.read_constraint(conn, fk.table, fk.name) is None:
            done += self._run_per_leaf(conn)
        else:
            done.append(_validate_one(conn, fk, self.policy))
        return observe(conn, fk, done)

    def _run_per_leaf(self, conn: psycopg.Connection) -> list[str]:
        """VALIDATE each leaf not yet validated, then ADD on the parent, which attaches them without a scan."""
        fk, policy = self.fk, self.policy
        ran = []
        for leaf, found in partitions.leaf_states(conn, fk).items():
            if found is None:
                raise RolloutError(f"{fk.name} is missing from {leaf}, a partition of {fk.table} (added after the "
                                   f"rollout, or dropped by hand): run pulumi refresh, then pulumi up to add it there "
                                   f"too", constraint=fk.name)
            if not found.validated:
                ran.append(_validate_one(conn, partitions.on(fk, leaf), policy))
        statement = ddl.add_attaching(fk)
        run_locked(conn, [statement], [fk.table, *partitions.leaves(conn, fk.table), fk.references], policy,
                   what=f"attaching {fk.name} on {fk.table}")
        ran.append(statement.as_string(conn))
        return ran
