"""What a stack wants of each catalog constraint: absent, NOT VALID or validated, and why.

One place for it: the program declares it, `fkguard status` and `fkguard verify` compare the
database with it. Tiers decide first (fkguard:addTiers, fkguard:validateTiers); within a tier
that validates, a constraint stays NOT VALID on its own when its orphans are accepted as debt,
so one accepted relationship never holds back the rest of its tier, and so does one the catalog
marks `validated: false`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fkguard import debt
from fkguard.catalog import ForeignKey
from fkguard.introspect import LiveConstraint
from fkguard.stack.options import Options

ABSENT, NOT_VALID, VALIDATED = "absent", "not valid", "validated"


@dataclass(frozen=True)
class Desired:
    state: str
    why: str = ""  # set when a constraint stays NOT VALID although its tier validates


def state_of(exists: bool, validated: bool) -> str:
    """What the database has, in the same words as what the stack wants (status, verify, the provider)."""
    return VALIDATED if validated else (NOT_VALID if exists else ABSENT)


def observed(found: LiveConstraint | None) -> str:
    """The state of a constraint as rollout.read found it (None: absent)."""
    return ABSENT if found is None else state_of(True, found.validated)


def desired(fk: ForeignKey, options: Options, accepted: debt.Debt | None) -> Desired:
    if fk.tier not in options.add_tiers:
        return Desired(ABSENT)
    if fk.tier not in options.validate_tiers:
        return Desired(NOT_VALID)
    if accepted is not None:
        return Desired(NOT_VALID, debt.label(accepted))
    if not fk.validate:
        return Desired(NOT_VALID, "validated: false in the catalog")
    return Desired(VALIDATED)
