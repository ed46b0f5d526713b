"""The Pulumi program's tier graph (__main__.py), under pulumi.runtime.set_mocks: no engine, and a database of
the test's own, which the program asks which keys an index not fkguard's already serves.
Each tier's constraints depend on the previous tier's gate alone, each gate on its whole tier, and the
last tier's constraints have no dependents (so `pulumi destroy --target` takes them alone)."""

import asyncio
import dataclasses
import runpy
from collections.abc import Iterator
from pathlib import Path

import pulumi
import pytest
from psycopg import sql
from pulumi.runtime.mocks import MockMonitor

from fkguard import ddl, introspect
from fkguard.catalog import TIERS, load_catalog
from fkguard.stack.settings import ConnectionSettings
from fkguard_testing.fixtures import as_superuser

PROGRAM = Path(__file__).resolve().parent.parent / "__main__.py"
CATALOG = load_catalog()


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        return f"{args.name}-id", {**args.inputs, "convalidated": False, "state": "not valid"}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        return {}


class _Recording(MockMonitor):
    """The mock engine, also noting what each resource was registered to depend on (by resource name)."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.depends_on: dict[str, set[str]] = {}

    def RegisterResource(self, request):  # noqa: N802 (the gRPC method's name)
        if request.type != "pulumi:pulumi:Stack":
            self.depends_on[request.name] = {urn.rsplit("::", 1)[-1] for urn in request.dependencies}
        return super().RegisterResource(request)


def run_program(config: dict[str, str]) -> dict[str, set[str]]:
    monitor = _Recording(_Mocks())
    # pulumi.runtime.test runs on the thread's current loop, which another test's asyncio.run leaves unset.
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(_Mocks(), project="fkguard", stack="test-mocks", preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(config)

    @pulumi.runtime.test
    def program() -> None:
        runpy.run_path(str(PROGRAM), run_name="fkguard_program")

    program()
    return monitor.depends_on


@pytest.fixture()
def program_db(pg: ConnectionSettings) -> Iterator[ConnectionSettings]:
    """A database of this test's own, none of the catalog's tables in it."""
    name = "fkguard_program_graph"
    as_superuser(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    as_superuser(f"CREATE DATABASE {name} OWNER {pg.username}")
    yield dataclasses.replace(pg, database=name)
    as_superuser(f"DROP DATABASE {name} WITH (FORCE)")


def config_for(settings: ConnectionSettings, **extra: str) -> dict[str, str]:
    return {"postgresql:host": settings.host, "postgresql:port": str(settings.port),
            "postgresql:database": settings.database, "postgresql:username": settings.username,
            "postgresql:password": settings.password, "postgresql:sslmode": "disable", **extra}


@pytest.mark.parametrize("tiers", [TIERS, ("critical", "medium")])
def test_each_tier_depends_on_the_gate_of_the_one_before_and_the_last_has_no_dependents(tiers, program_db):
    graph = run_program(config_for(program_db, **{"fkguard:addTiers": ",".join(tiers)}))
    added = [t for t in TIERS if t in tiers]
    by_tier = {t: {fk.name for fk in CATALOG if fk.tier == t} for t in added}
    assert all(by_tier.values())  # the plan's catalog has constraints in every tier
    gates = {f"tier-{t}-done" for t in added[:-1]}
    indexes = {name for name in graph if "/" in name}  # SupportingIndex: "<schema>.<table>/<index name>"
    assert len(indexes) == sum(len(names) for names in by_tier.values())  # the plan's keys share no columns
    # nothing of a tier not added, no gate after the last; the monitoring baseline before the first change
    assert set(graph) == set().union(*by_tier.values()) | gates | indexes | {"monitor-baseline"}
    for before, tier in zip([None, *added], added, strict=False):
        prior = {"monitor-baseline"} if before is None else {f"tier-{before}-done"}
        for name in by_tier[tier]:
            (index,) = graph[name] & indexes  # each key waits on its supporting index, built after the same prior
            assert graph[name] - indexes == prior, name
            assert graph[index] == prior, index
        if tier != added[-1]:
            assert graph[f"tier-{tier}-done"] == by_tier[tier]
    depended_on = set().union(*graph.values())
    assert not depended_on & by_tier[added[-1]]


def test_a_key_an_index_not_fkguards_already_serves_gets_no_index_resource(program_db):
    """A SupportingIndex only where fkguard builds or built the index: a team's own index serves as it is (fkguard
    never drops it), and a resource for it would only cost; fkguard's own (marked by its comment) stays managed."""
    served = CATALOG[0]
    marked = next(fk for fk in CATALOG if fk.table != served.table)
    with program_db.connect() as conn:
        for fk in (served, marked):
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(fk.table.schema)))
            conn.execute(sql.SQL("CREATE TABLE {} ({})").format(
                ddl.table_ref(fk.table), sql.SQL(", ").join(sql.SQL("{} int").format(sql.Identifier(c)) for c in fk.columns)))
            conn.execute(sql.SQL("CREATE INDEX {} ON {} ({})").format(
                sql.Identifier(ddl.index_name(fk.table, fk.columns)), ddl.table_ref(fk.table),
                sql.SQL(", ").join(map(sql.Identifier, fk.columns))))
        conn.execute(ddl.mark_index(marked.table.schema, ddl.index_name(marked.table, marked.columns),
                                    introspect.BUILT_BY_FKGUARD))
    graph = run_program(config_for(program_db))
    indexes = {name for name in graph if "/" in name}
    assert f"{marked.table}/{ddl.index_name(marked.table, marked.columns)}" in indexes
    assert f"{served.table}/{ddl.index_name(served.table, served.columns)}" not in indexes
    assert len(indexes) == len(CATALOG) - 1
    assert not graph[served.name] & indexes  # nothing to wait for: its index is there


def test_a_split_stack_declares_only_the_keys_it_owns(program_db):
    """fkguard:tiers medium,low: the earlier tiers are another stack's, so this stack's first tier waits on nothing
    of theirs (tier-order holds its validation back until they are validated in the database)."""
    graph = run_program(config_for(program_db, **{"fkguard:tiers": "medium,low"}))
    owned = {fk.name for fk in CATALOG if fk.tier in ("medium", "low")}
    keys = {name for name in graph if name.startswith("fk_")}
    assert keys == owned and owned
    assert set(graph) - keys - {n for n in graph if "/" in n} == {"tier-medium-done", "monitor-baseline"}
    assert all(graph[fk.name] - {n for n in graph if "/" in n} == {"monitor-baseline"}
               for fk in CATALOG if fk.tier == "medium")
