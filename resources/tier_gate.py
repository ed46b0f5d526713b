"""TierGate: "every constraint of this tier is done", the one thing the next tier depends on.

With each constraint depending on the whole previous tier, the state listed tier × tier
dependencies, and the file backend rewrites the whole state at every step: 160 constraints in four
tiers spent about a fifth of `pulumi up` on it. A gate per tier keeps the order with one
dependency per constraint. It touches no database; its delete is a no-op.
Pickled by reference like the constraint provider: keep this module path and class name.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi import dynamic

TYPE_NAME = "TierGate"


class TierGateProvider(dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        return dynamic.CreateResult(f"tier-{props['tier']}", props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = olds.get("tier") != news.get("tier")
        return dynamic.DiffResult(changes=changed, replaces=["tier"] if changed else [])

    def delete(self, _id: str, _properties: dict[str, Any]) -> None:
        """Nothing to undo: the gate is only an edge in the dependency graph."""


class TierGate(dynamic.Resource, module="fkguard", name=TYPE_NAME):
    """Done when every constraint of its tier is; the next tier depends on it alone."""

    def __init__(self, tier: str, members: list[pulumi.Resource]) -> None:
        super().__init__(TierGateProvider(), f"tier-{tier}-done", {"tier": tier},
                         pulumi.ResourceOptions(depends_on=members))
