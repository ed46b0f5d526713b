"""MonitorBaseline: the statistics of the tables a rollout touches, taken before its first change.

`fkguard monitor` compares the database against it (fkguard.monitor). It is kept in the stack's
state, so everyone who shares the stack compares against the same baseline. A new set of tables
(a tier added) takes a new one, before that tier's first change; validating changes nothing here.
Pickled by reference like the constraint provider: keep this module path and class name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pulumi
from pulumi import dynamic

from fkguard import monitor
from fkguard.catalog import QualifiedName
from fkguard.errors import EXPECTED, describe
from fkguard.stack import identity
from resources import foreign_key
from resources.taken_once import TakenOnceProvider


class MonitorBaselineProvider(TakenOnceProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        # Everything the program declares depends on this resource: refusing another database here, at
        # preview, stops the deployment before any other step.
        try:
            with foreign_key._connect("checking the database", "the monitor baseline") as conn:  # noqa: SLF001
                database = foreign_key.guarded(conn, olds, news, "checking the database")
        except EXPECTED as exc:
            return dynamic.CheckResult(news, [dynamic.CheckFailure("tables", describe(exc))])
        return dynamic.CheckResult({**news, identity.PROPERTY: database}, [])

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        tables = [QualifiedName.parse(t) for t in props["tables"]]
        with foreign_key.connection_settings().connect(application_name="fkguard-monitor") as conn:
            database = foreign_key.guarded(conn, {}, props, "taking the monitor baseline")
            taken = monitor.snapshot(conn, tables)
        return dynamic.CreateResult(f"baseline-{taken['takenAt']}",
                                    {**props, identity.PROPERTY: database, "snapshot": taken})

    def delete(self, _id: str, _properties: dict[str, Any]) -> None:
        """Statistics only: nothing in the database to remove."""


class MonitorBaseline(dynamic.Resource, module=foreign_key.MODULE, name=monitor.BASELINE_NAME):
    if TYPE_CHECKING:  # for the type checker only: class annotations cost the SDK a get_type_hints per registration
        snapshot: pulumi.Output[dict]

    def __init__(self, name: str, tables: list[QualifiedName], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(MonitorBaselineProvider(), name,
                         {"tables": sorted(str(t) for t in tables), "stack": pulumi.get_stack(), "snapshot": None}, opts)
