"""What an operation leaves behind: the object as PostgreSQL then has it, and the SQL the operation ran
(the `sql` output of the resource that applied it)."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from fkguard import rollout
from fkguard.catalog import ForeignKey
from fkguard.desired import state_of


@dataclass
class ConstraintOutcome:
    """What the database has of a foreign key after a step, and the SQL the step ran."""

    exists: bool
    validated: bool = False
    definition: str = ""
    sql: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        return state_of(self.exists, self.validated)


def observe(conn: psycopg.Connection, fk: ForeignKey, ran: list[str]) -> ConstraintOutcome:
    """The constraint as rollout.read finds it once `ran` has run."""
    found = rollout.read(conn, fk)
    if found is None:
        return ConstraintOutcome(exists=False, sql=ran)
    return ConstraintOutcome(exists=True, validated=found.validated, definition=found.definition, sql=ran)


@dataclass
class IndexOutcome:
    """The supporting index that serves after a step (fkguard's or adopted), and the SQL the step ran."""

    name: str
    ours: bool
    valid: bool
    definition: str = ""
    sql: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        return "valid" if self.valid else "invalid"


@dataclass
class IndexDropOutcome:
    """Whether the index is still there after a drop (adopted, or still needed by a key), and the SQL it ran."""

    kept: bool
    sql: list[str] = field(default_factory=list)
