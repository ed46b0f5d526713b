"""Accepted technical debt (the plan's remediation Option 3): orphans a team decided to live with,
written down with a reason in `fkguard-debt.yaml` next to the stack files, and honoured by the
orphan gate. PostgreSQL cannot validate a constraint over orphans, so debt allows NOT VALID only."""

from __future__ import annotations

import datetime
import getpass
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
import yaml

from fkguard import introspect, orphans
from fkguard.catalog import ForeignKey
from fkguard.errors import FkguardError

FILE_NAME = "fkguard-debt.yaml"
HEADER = (
    "# Orphans accepted as technical debt (FK_EXECUTION_PLAN.md, Phase 1, Option 3), one entry per\n"
    "# constraint and stack. Such a constraint is added NOT VALID while its orphans number at most\n"
    "# `orphans`, and stays NOT VALID while the rest of its tier validates. Written by\n"
    "# `fkguard remediate --action accept`; `fkguard debt --prune` removes entries no longer needed;\n"
    "# review it like code.\n"
)


class DebtError(FkguardError):
    """An unreadable debt file; the message names the file and the fix."""


@dataclass(frozen=True)
class Debt:
    constraint: str
    stack: str
    orphans: int
    reason: str
    accepted_by: str
    accepted_on: str


def covers(entry: Debt, fk: ForeignKey) -> bool:
    """Whether an entry is about this key: `fkguard remediate --action accept` writes the key's label (its name,
    or schema.table.name where keys of other tables share the name); a bare name covers every key of that name."""
    return entry.constraint in (fk.name, fk.qualified)


def stale_reason(entry: Debt, orphans: int | None, validated: bool, in_catalog: bool) -> str | None:
    """Why an entry is no longer needed (its constraint can now be validated), or None while it is."""
    if not in_catalog:
        return "the constraint is no longer in the catalog"
    if validated:
        return "the constraint is validated"
    if orphans == 0:
        return "no orphans are left"
    return None


@dataclass(frozen=True)
class Standing:
    """An entry of accepted debt (or none) against the orphans counted now."""
    covering: Debt | None  # the entry, while there are orphans and no more than it accepts
    stale: str | None  # why the entry is no longer needed, or None while it is


def standing(entry: Debt | None, count: int | None, validated: bool = False) -> Standing:
    """The one reading of an entry that audit, verify, debt and the orphan gate all share."""
    if entry is None:
        return Standing(None, None)
    return Standing(entry if count and count <= entry.orphans else None, stale_reason(entry, count, validated, True))


@dataclass(frozen=True)
class Review:
    entry: Debt
    orphans: int | None  # now, over every key it covers whose tables exist; None: none such
    stale: str | None


def label(entry: Debt) -> str:
    """How accepted debt reads in every command's output."""
    return f"accepted ({entry.reason})"


@dataclass(frozen=True)
class Ledger:
    """A project's accepted debt, fkguard-debt.yaml as read once: the program, the policy pack and every command ask
    it the same questions (which entry covers a key on a stack, whether it still holds), and it alone writes it."""

    project_dir: Path | None  # None: debt held in memory only (the pack's and the tests' stand-alone stacks)
    entries: tuple[Debt, ...] = ()

    @classmethod
    def load(cls, project_dir: Path) -> Ledger:
        path = project_dir / FILE_NAME
        if not path.exists():
            return cls(project_dir)
        try:
            document = yaml.safe_load(path.read_text()) or {}
            return cls(project_dir, tuple(Debt(**entry) for entry in document.get("accepted") or []))
        except (yaml.YAMLError, TypeError, AttributeError) as exc:
            raise DebtError(f"{path} is not a valid debt file ({type(exc).__name__}); fix it or remove the entry") from None

    def __iter__(self) -> Iterator[Debt]:
        return iter(self.entries)

    def of_stack(self, stack: str) -> list[Debt]:
        return [d for d in self.entries if d.stack == stack]

    def accepted(self, fk: ForeignKey, stack: str) -> Debt | None:
        """The entry that covers this key on this stack, if any."""
        return next((d for d in self.entries if covers(d, fk) and d.stack == stack), None)

    def standing(self, fk: ForeignKey, stack: str, count: int | None, validated: bool = False) -> Standing:
        """This key's entry against the orphans counted now: what audit, verify and the orphan gate all read."""
        return standing(self.accepted(fk, stack), count, validated)

    def _write(self, entries: list[Debt]) -> None:
        if self.project_dir is None:
            raise DebtError("this stack's debt is not read from a project folder: run fkguard from the project")
        text = yaml.safe_dump({"accepted": [asdict(d) for d in entries]}, sort_keys=False, allow_unicode=True)
        (self.project_dir / FILE_NAME).write_text(HEADER + text)

    def record(self, constraint: str, stack: str, orphans: int, reason: str) -> Debt:
        """Add or replace the entry for (constraint, stack) in the file, as it is now on disk."""
        if not reason.strip():
            raise DebtError("accepting orphans as debt needs a reason: --reason '<why, and the ticket that tracks it>'")
        entry = Debt(constraint, stack, orphans, reason.strip(), getpass.getuser(), datetime.date.today().isoformat())
        current = Ledger.load(self.project_dir) if self.project_dir else self
        self._write([d for d in current if (d.constraint, d.stack) != (constraint, stack)] + [entry])
        return entry

    def remove(self, stack: str, constraints: set[str]) -> list[Debt]:
        """Drop the entries of these constraints for this stack from the file; returns what was dropped."""
        entries = list(Ledger.load(self.project_dir) if self.project_dir else self)
        gone = [d for d in entries if d.stack == stack and d.constraint in constraints]
        if gone:
            self._write([d for d in entries if d not in gone])
        return gone

    def review(self, conn: psycopg.Connection, stack: str, catalog: Sequence[ForeignKey]) -> list[Review]:
        """Each of the stack's entries against the database now: whether it is still needed (`fkguard debt`)."""
        return [_review(conn, entry, catalog) for entry in self.of_stack(stack)]


def _review(conn: psycopg.Connection, entry: Debt, catalog: Sequence[ForeignKey]) -> Review:
    # A bare name covers every key of that name (covers): the entry is stale once all of them are.
    keys = [fk for fk in catalog if covers(entry, fk)]
    if not keys:
        return Review(entry, None, stale_reason(entry, None, False, False))
    reasons, count = [], None
    for fk in keys:
        found, orphans_now = None, None
        if introspect.table_exists(conn, fk.table) and introspect.table_exists(conn, fk.references):
            found, orphans_now = introspect.read_constraint(conn, fk.table, fk.name), orphans.count_orphans(conn, fk)
            count = (count or 0) + orphans_now
        reasons.append(standing(entry, orphans_now, bool(found and found.validated)).stale)
    return Review(entry, count, None if None in reasons else "; ".join(dict.fromkeys(r for r in reasons if r)))
