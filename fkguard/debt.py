"""Accepted technical debt (the plan's remediation Option 3): orphans a team decided to live with,
written down with a reason in `fkguard-debt.yaml` next to the stack files, and honoured by the
orphan gate. PostgreSQL cannot validate a constraint over orphans, so debt allows NOT VALID only."""

from __future__ import annotations

import datetime
import getpass
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

FILE_NAME = "fkguard-debt.yaml"
HEADER = (
    "# Orphans accepted as technical debt (FK_EXECUTION_PLAN.md, Phase 1, Option 3), one entry per\n"
    "# constraint and stack. The orphan gate lets such a constraint be added NOT VALID while its orphans\n"
    "# number at most `orphans`; it can never be validated until they are remediated. Written by\n"
    "# `fkguard remediate --action accept`; review it like code.\n"
)


class DebtError(ValueError):
    """An unreadable debt file; the message names the file and the fix."""


@dataclass(frozen=True)
class Debt:
    constraint: str
    stack: str
    orphans: int
    reason: str
    accepted_by: str
    accepted_on: str


def load(project_dir: Path) -> list[Debt]:
    path = project_dir / FILE_NAME
    if not path.exists():
        return []
    try:
        document = yaml.safe_load(path.read_text()) or {}
        return [Debt(**entry) for entry in document.get("accepted") or []]
    except (yaml.YAMLError, TypeError, AttributeError) as exc:
        raise DebtError(f"{path} is not a valid debt file ({type(exc).__name__}); fix it or remove the entry") from None


def accepted(entries: list[Debt], constraint: str, stack: str) -> Debt | None:
    return next((d for d in entries if d.constraint == constraint and d.stack == stack), None)


def record(project_dir: Path, constraint: str, stack: str, orphans: int, reason: str) -> Debt:
    """Add or replace the entry for (constraint, stack)."""
    if not reason.strip():
        raise DebtError("accepting orphans as debt needs a reason: --reason '<why, and the ticket that tracks it>'")
    entry = Debt(constraint, stack, orphans, reason.strip(), getpass.getuser(), datetime.date.today().isoformat())
    entries = [d for d in load(project_dir) if (d.constraint, d.stack) != (constraint, stack)] + [entry]
    text = yaml.safe_dump({"accepted": [asdict(d) for d in entries]}, sort_keys=False, allow_unicode=True)
    (project_dir / FILE_NAME).write_text(HEADER + text)
    return entry
