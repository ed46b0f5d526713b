"""The Pulumi program's tier graph (__main__.py), under pulumi.runtime.set_mocks: no engine, no database.
Each tier's constraints depend on the previous tier's gate alone, each gate on its whole tier, and the
last tier's constraints have no dependents (so `pulumi destroy --target` takes them alone)."""

import runpy
from pathlib import Path

import pulumi
import pytest
from pulumi.runtime.mocks import MockMonitor

from fkguard.catalog import TIERS, load_catalog

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
    pulumi.runtime.set_mocks(_Mocks(), project="fkguard", stack="test-mocks", preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(config)

    @pulumi.runtime.test
    def program() -> None:
        runpy.run_path(str(PROGRAM), run_name="fkguard_program")

    program()
    return monitor.depends_on


@pytest.mark.parametrize("tiers", [TIERS, ("critical", "medium")])
def test_each_tier_depends_on_the_gate_of_the_one_before_and_the_last_has_no_dependents(tiers):
    graph = run_program({"fkguard:addTiers": ",".join(tiers), "postgresql:host": "db.invalid",
                         "postgresql:database": "apms", "postgresql:username": "fkguard"})
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
