"""Remediation of several relationships as one decision: each is planned against the whole catalog before the
first one changes anything, then applied in a transaction of its own under one batch (one undo), and the
catalog is audited again, since removing a parent can orphan its own children (the plan's Step 1.3)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from fkguard import audit, debt, remediate
from fkguard.catalog import ForeignKey
from fkguard.errors import FkguardError
from fkguard.locks import LockPolicy

DONE = {"delete": "deleted", "nullify": "their key set to NULL"}


@dataclass
class Plan:
    action: str
    asked: int  # relationships asked about
    steps: list[tuple[ForeignKey, int]] = field(default_factory=list)  # those with orphans, and how many
    refusals: list[str] = field(default_factory=list)  # "label: why", one per relationship the action would harm

    @property
    def rows(self) -> int:
        return sum(count for _, count in self.steps)

    @property
    def labels(self) -> set[str]:
        return {fk.label for fk, _ in self.steps}

    def refused(self, every: bool) -> remediate.RemediationError:
        """The error that stops the command: the last refusal, with how many there were (the others are
        for the command to print first)."""
        last = self.refusals[-1]
        if every and self.action == "delete":
            last += (". With --all, remediate the referencing rows first (or those relationships on their own with "
                     "--constraint), then run --all again")
        many = f" ({len(self.refusals)} relationships refused; nothing changed)" if len(self.refusals) > 1 else ""
        return remediate.RemediationError(last + many)


def plan(conn: psycopg.Connection, chosen: list[ForeignKey], action: str, catalog: list[ForeignKey]) -> Plan:
    """What the action would do to each chosen relationship, and which of them it must not touch."""
    found = Plan(action, len(chosen))
    for fk in chosen:
        count, refusal = remediate.plan(conn, fk, action, catalog)
        if count and refusal:
            found.refusals.append(f"{fk.label}: {refusal}")
        elif count:
            found.steps.append((fk, count))
    return found


def accept(project_dir: Path, planned: Plan, stack: str, reason: str) -> None:
    """Record each relationship's orphans as accepted debt, as many as there are now."""
    ledger = debt.Ledger.load(project_dir)
    for fk, count in planned.steps:
        ledger.record(fk.label, stack, count, reason)


def apply(conn: psycopg.Connection, planned: Plan, catalog: list[ForeignKey], policy: LockPolicy, stack: str,
          progress: Callable[[str], None] = lambda _: None) -> str:
    """Delete or nullify the plan's orphans, each relationship in its own transaction, all under one new
    batch; returns the batch. A refusal part-way names the batch holding what was done before it."""
    batch = remediate.new_batch()
    for applied, (fk, _) in enumerate(planned.steps):
        try:
            result = remediate.apply(conn, fk, planned.action, batch, catalog, policy)
        except FkguardError as exc:  # refused, or gave up on a lock: this relationship changed nothing
            if applied:  # the relationships before this one are done, each in its own transaction
                raise remediate.RemediationError(f"{exc}; the {applied} relationships before it are in batch "
                                                 f"{batch} (undo: fkguard remediate -s {stack} --undo {batch})",
                                                 constraint=fk.label) from None
            raise
        progress(f"remediate: {fk.label}: {result.rows} rows copied to quarantine and {DONE[planned.action]}")
    return batch


def reaudit(conn: psycopg.Connection, catalog: list[ForeignKey]) -> dict[str, int]:
    """The relationships of the whole catalog that still have orphans, and how many."""
    return {fk.label: n for fk in catalog if (n := audit.audit_one(conn, fk, 0).orphans)}


def describe_left(left: dict[str, int], before: dict[str, int], asked: set[str]) -> list[str]:
    """What the re-audit found, told apart: orphans the remediation was asked to remove and did not (rows written
    meanwhile), orphans that appeared in other relationships while it ran, and orphans that were there before in
    relationships it was not asked about; each line names the relationships and their counts."""
    def listed(labels: list[str]) -> str:
        return ", ".join(f"{k} {left[k]}" for k in labels)
    lines = []
    still = [k for k in left if k in asked]
    grew = [k for k in left if k not in asked and left[k] > before.get(k, 0)]
    there = [k for k in left if k not in asked and left[k] <= before.get(k, 0)]
    if still:
        lines.append(f"orphans remain in {len(still)} of the relationships remediated (rows written since it "
                     f"counted them: run it again): {listed(still)}")
    if grew:
        lines.append(f"orphans appeared in {len(grew)} other relationships while it ran (written meanwhile, or "
                     f"children of removed rows: audit them): {listed(grew)}")
    if there:
        lines.append(f"orphans that were there before remain in {len(there)} relationships it was not asked "
                     f"about: {listed(there)}")
    return lines
