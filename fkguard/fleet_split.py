"""A fleet's stacks that share a database: each must own its own part of the catalog, and the waves must
validate the tiers of a database in order. Checked before anything runs, beside fkguard.fleet.preflight.

Several stacks may split one database's catalog (fkguard.catalog.selection: fkguard:schemas, fkguard:tiers) to
run in parallel. Two of them owning one key would adopt each other's constraint and drop it in a rollback; a
stack validating tier `medium` while the stack owning `critical` of the same schemas runs beside it (or after
it) would validate out of the plan's order, which the tier-order policy would then refuse half-way through the
fleet. Which stacks share a database is asked of the databases themselves (fkguard.stack.identity: the
cluster's system_identifier and the database's oid), since two host names may reach one database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fkguard.catalog import TIERS
from fkguard.errors import EXPECTED
from fkguard.fleet_stack import FleetError
from fkguard.stack import identity
from fkguard.stack.context import StackContext


def database_of(context: StackContext) -> identity.Identity | None:
    """The database the stack's settings reach; None when it cannot be reached now (that stack then fails at its
    turn, as any stack whose database is down)."""
    try:
        with context.connection.connect(application_name=context.application_name) as conn:
            return identity.live(conn)
    except EXPECTED:
        return None


def sharing(contexts: Mapping[str, StackContext], bounded: Callable[[Sequence[str], Callable[[str], Any]], list[Any]]
            ) -> list[tuple[identity.Identity, list[str]]]:
    """The databases two or more of the stacks reach, each with those stacks in fleet order."""
    stacks = list(contexts)
    found = dict(zip(stacks, bounded(stacks, lambda s: database_of(contexts[s])), strict=True))
    groups: dict[str, tuple[identity.Identity, list[str]]] = {}
    for stack, database in found.items():
        if database is not None:
            groups.setdefault(database.fingerprint, (database, []))[1].append(stack)
    return [group for group in groups.values() if len(group[1]) > 1]


def check_owners(database: identity.Identity, stacks: Sequence[str], contexts: Mapping[str, StackContext]) -> None:
    """Refuse two stacks of one database that own a key in common."""
    owner: dict[str, str] = {}
    for stack in stacks:
        shared = [fk.label for fk in contexts[stack].catalog if owner.get(fk.qualified, stack) != stack]
        if shared:
            first = next(fk for fk in contexts[stack].catalog if fk.label == shared[0])
            more = f" and {len(shared) - 1} more" if len(shared) > 1 else ""
            raise FleetError(
                f"stacks {owner[first.qualified]!r} and {stack!r} both own {shared[0]}{more} of database "
                f"{database.describe()}: give each stack of one database its own part of the catalog with "
                f"fkguard:schemas or fkguard:tiers")
        owner.update({fk.qualified: stack for fk in contexts[stack].catalog})


def check_order(stacks: Sequence[str], contexts: Mapping[str, StackContext], waves: Mapping[str, tuple[int, str]]
                ) -> None:
    """Refuse a stack that validates a tier in the same wave as, or before, a stack of its database that owns an
    earlier tier of its schemas (a split by tier)."""
    for later in stacks:
        options = contexts[later].options
        validating = {fk.tier for fk in contexts[later].catalog if fk.tier in options.validate_tiers}
        for tier in sorted(validating, key=TIERS.index):
            foreign = options.selection.foreign_tiers_before(tier)
            for earlier in (s for s in stacks if s != later and waves[s][0] >= waves[later][0]):
                owned = sorted({fk.tier for fk in contexts[earlier].catalog
                                if fk.tier in foreign and options.selection.in_scope(fk)}, key=TIERS.index)
                if owned:
                    where = "the same wave" if waves[earlier][0] == waves[later][0] else "a later wave"
                    raise FleetError(
                        f"stack {later!r} validates tier {tier} while stack {earlier!r}, which owns the earlier "
                        f"{', '.join(owned)} of its database, runs in {where} ({waves[earlier][1]}): put {later!r} "
                        f"in a wave after {earlier!r}'s")


def check(plan: Sequence[tuple[Any, list[str]]], contexts: Mapping[str, StackContext],
          bounded: Callable[[Sequence[str], Callable[[str], Any]], list[Any]]) -> None:
    """Every check of this module over a fleet's plan (waves in order, each with its stacks)."""
    waves = {stack: (number, wave.name) for number, (wave, chosen) in enumerate(plan) for stack in chosen}
    for database, stacks in sharing(contexts, bounded):
        check_owners(database, stacks, contexts)
        check_order(stacks, contexts, waves)
