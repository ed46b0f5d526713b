"""What the backup and the monitor baseline share: each is taken once, before a rollout's first change, for
a set of tables in one database, and taken again only when either changes.

Pickled by reference with the providers that build on it: keep this module path and class name.
"""

from __future__ import annotations

from typing import Any

from pulumi import dynamic

from fkguard.stack import identity
from resources import foreign_key


class TakenOnceProvider(dynamic.ResourceProvider):
    def configure(self, req: dynamic.ConfigureRequest) -> None:
        foreign_key.ForeignKeyConstraintProvider().configure(req)  # the same connection settings

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        # Another set of tables, or a stack moved on purpose to another database, takes a new one; one taken
        # before fkguard recorded identities only records it.
        replaces = ["tables"] if sorted(olds.get("tables") or []) != sorted(news.get("tables") or []) else []
        if identity.moved(olds, news):
            replaces.append(identity.PROPERTY)
        return dynamic.DiffResult(changes=bool(replaces) or identity.to_record(olds, news), replaces=replaces)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        return dynamic.UpdateResult({**olds, identity.PROPERTY: news[identity.PROPERTY], "stack": news.get("stack")})
