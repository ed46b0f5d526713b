"""A foreign key from nothing: ADD … NOT VALID, then, if the catalog asks for it validated, VALIDATE in a
transaction of its own. The provider's create, and its update that finds the key missing from a database
the stack was moved to on purpose, both apply this."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from fkguard.catalog import ForeignKey
from fkguard.locks import LockPolicy
from fkguard.operations import add_not_valid, validate
from fkguard.operations.add_not_valid import AddNotValid, split_leaves
from fkguard.operations.outcomes import ConstraintOutcome
from fkguard.operations.validate import Validate


@dataclass(frozen=True)
class CreateConstraint:
    """Add the constraint NOT VALID (or adopt an identical one), then validate it if `validated`; `stack` marks
    it as that stack's (fkguard.ownership)."""

    fk: ForeignKey
    policy: LockPolicy
    validated: bool
    stack: str | None = None

    def plan_sql(self, conn: psycopg.Connection) -> list[str]:
        leaves = split_leaves(conn, self.fk.table)  # asked once for both steps: the check runs it per resource
        plan = add_not_valid.plan(conn, self.fk, leaves, self.stack)
        if self.validated:
            plan += validate.plan(conn, self.fk, leaves)
        return plan

    def run(self, conn: psycopg.Connection) -> ConstraintOutcome:
        outcome = AddNotValid(self.fk, self.policy, self.stack).run(conn)
        if self.validated and not outcome.validated:
            outcome = Validate(self.fk, self.policy, ran=outcome.sql).run(conn)
        return outcome
