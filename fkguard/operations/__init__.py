"""What fkguard does to the database, one operation per module: add a foreign key NOT VALID, validate it,
alter its deferral, drop it, build its supporting index, drop that index; and create_constraint, the
add-then-validate a provider's create applies.

Each operation is an object built from what it works on and the stack's LockPolicy, with two methods:
plan_sql(conn), the statements it would run, each with the locks it takes, for review at preview; and
run(conn), which runs them, every lock-taking statement through fkguard.locks' one retry engine, and
returns an outcome: the object as PostgreSQL then has it and the SQL that ran (fkguard.operations.outcomes).
The resources' providers only choose operations and apply them."""

from __future__ import annotations

from typing import Protocol, TypeVar

import psycopg

from fkguard.operations.add_not_valid import AddNotValid
from fkguard.operations.alter_deferral import AlterDeferral
from fkguard.operations.build_index import BuildIndex
from fkguard.operations.create_constraint import CreateConstraint
from fkguard.operations.drop_constraint import DropConstraint
from fkguard.operations.drop_index import DropIndex
from fkguard.operations.outcomes import ConstraintOutcome, IndexDropOutcome, IndexOutcome
from fkguard.operations.validate import Validate

OutcomeT = TypeVar("OutcomeT", covariant=True)


class Operation(Protocol[OutcomeT]):
    """A step fkguard takes on the database: planned at preview, run at update."""

    def plan_sql(self, conn: psycopg.Connection) -> list[str]: ...

    def run(self, conn: psycopg.Connection) -> OutcomeT: ...


__all__ = [
    "AddNotValid", "AlterDeferral", "BuildIndex", "ConstraintOutcome", "CreateConstraint", "DropConstraint",
    "DropIndex", "IndexDropOutcome", "IndexOutcome", "Operation", "Validate",
]
