"""The pack as a whole: one module per policy, one kebab-case name used everywhere."""

import importlib
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import CATALOG, run
from fkguard.apms.generate import generate
from fkguard.resource_properties import inputs_of

HERE = Path(__file__).parent
MODULES = sorted(p.stem for p in HERE.glob("*.py")
                 if p.stem not in ("__main__", "context", "conftest", "reports") and not p.stem.endswith("_test"))


def test_every_policy_module_is_in_the_pack_under_its_own_kebab_name():
    main = (HERE / "__main__.py").read_text()
    assert len(MODULES) == 9
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        assert module.POLICY.name == module.NAME == module_name.replace("_", "-")
        assert f"{module_name}.POLICY" in main
        assert (HERE / f"{module_name}_test.py").exists()
        configs = [(HERE.parent / f"policy-config.{s}.json").read_text() for s in ("local", "staging", "production")]
        for text in configs:
            assert not (set(re.findall(r'"([a-z]+(?:-[a-z]+)+)"', text)) - {m.replace("_", "-") for m in MODULES})


def test_four_concurrent_calls_each_get_their_own_answer(stack, conn):
    generate(conn, 1000, {CATALOG[5]: 2}, progress=lambda _: None)  # only the punchlists key has orphans
    import orphan_gate

    cases = [inputs_of(fk, False) for fk in CATALOG[:8]] * 2
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda props: run(orphan_gate.POLICY, props), cases))
    blocked = {case["constraintName"] for case, found in zip(cases, results, strict=True) if found}
    assert blocked == {"fk_punchlists_workflow_instance"}


def test_an_entry_the_provider_refuses_is_not_judged_again_by_each_policy(stack):
    import pytest
    from pulumi_policy.policy import _NotApplicableError

    for module_name in MODULES:
        policy = importlib.import_module(module_name).POLICY
        props = {**inputs_of(CATALOG[0], False), "columns": ["nope"]}
        with pytest.raises(_NotApplicableError) as refused:
            run(policy, props)
        assert refused.value.reason == "column 'nope' does not exist in public.workflow_instances; fix the column name"


def test_the_pack_reads_the_preflight_the_provider_check_recorded_instead_of_asking_again(stack, conn, monkeypatch):
    import pytest
    from pulumi_policy.policy import _NotApplicableError

    from fkguard import rollout

    def asked(*_args):
        raise AssertionError("the pack asked the database for a preflight the check had recorded")

    monkeypatch.setattr(rollout, "preflight", asked)
    props = {**inputs_of(CATALOG[0], False), "preflight": []}
    assert all(run(importlib.import_module(m).POLICY, props) == [] for m in ("referenced_key_unique", "safe_pattern"))
    recorded = {"field": "table", "code": "column-missing", "message": "column 'x' does not exist in t; fix it"}
    with pytest.raises(_NotApplicableError) as refused:
        run(importlib.import_module("orphan_gate").POLICY, {**props, "preflight": [recorded]})
    assert refused.value.reason == recorded["message"]
    monkeypatch.undo()  # without a record (an older provider), the pack asks itself, as before
    assert run(importlib.import_module("referenced_key_unique").POLICY, inputs_of(CATALOG[0], False)) == []


def test_the_catalog_may_waive_every_policy_but_the_orphan_gate():
    from fkguard.catalog import WAIVABLE

    assert set(WAIVABLE) == {m.replace("_", "-") for m in MODULES} - {"orphan-gate"}


def test_a_waived_policy_is_not_applicable_to_that_constraint_only(stack, conn):
    import dataclasses

    import context
    import pytest
    from pulumi_policy.policy import _NotApplicableError
    from referencing_index import POLICY

    unindexed = next(fk for fk in CATALOG if fk.name == "fk_cluster_master_workspace")
    # index: none, or fkguard builds the index itself and the policy has nothing to say
    context.register(dataclasses.replace(stack, catalog=[dataclasses.replace(fk, index="none") for fk in CATALOG]))
    props = inputs_of(unindexed, False)
    assert len(run(POLICY, props)) == 1
    waived = {**props, "waivers": [{"policy": "referencing-index", "reason": "40 rows, never deleted", "by": "ana"}]}
    with pytest.raises(_NotApplicableError) as skipped:
        run(POLICY, waived)
    assert skipped.value.reason == "referencing-index waived by ana: 40 rows, never deleted"
    other = {**props, "waivers": [{"policy": "tier-order", "reason": "x", "by": "ana"}]}
    assert len(run(POLICY, other)) == 1


def test_each_policy_carries_its_remediation_and_its_page_written_as_instead_of_use():
    from context import doc_page

    for module_name in MODULES:
        policy = importlib.import_module(module_name).POLICY
        assert policy.url == doc_page(policy.name) == f"docs/policies/{policy.name}.md"
        assert policy.remediation_steps.startswith("Instead of ") and ", use " in policy.remediation_steps
        page = (HERE.parent / policy.url).read_text()
        assert page.startswith(f"# {policy.name} (")
        headings = re.findall(r"^## (.+)$", page, flags=re.M)
        assert headings == ["Problem", "Instead of", "Use", "Waiving"], policy.name
        if policy.name != "orphan-gate":  # the one policy no waiver sets aside
            assert f"policy: {policy.name}" in page


def test_a_table_gone_after_the_provider_check_makes_a_policy_not_applicable_not_silent(stack, conn):
    import context
    import pytest
    from pulumi_policy.policy import _NotApplicableError

    from conftest import STACK
    from fkguard.resource_properties import RESOURCE_TYPE, to_foreign_key

    props = {**inputs_of(CATALOG[2], True), "constraintName": "fk_na_child_parent", "table": "public.na_child",
             "columns": ["parent_id"], "references": "public.na_parent", "referencedColumns": ["id"]}
    guarded = {"constraint_name": "public.na_child does not exist, so it has no constraints to compare",
               "orphan_gate": "public.na_child does not exist, so it has no rows to count",
               "referenced_key_unique": "public.na_parent does not exist, so it has no key to judge",
               "referencing_index": "public.na_child does not exist, so it has no index to judge",
               "safe_pattern": "public.na_child does not exist, so nothing can be added to it yet"}
    for module_name, reason in guarded.items():
        conn.execute("DROP TABLE IF EXISTS na_child, na_parent; CREATE TABLE na_parent (id int PRIMARY KEY); "
                     "CREATE TABLE na_child (id int PRIMARY KEY, parent_id int)")
        # One Analyze call: the provider's check passes and is remembered for it, then the tables are dropped
        context.forget()
        context._begin(f"urn:pulumi:{STACK}::fkguard::{RESOURCE_TYPE}::fk_na_child_parent", "the provider's check")
        assert context.provider_refusal(stack, to_foreign_key(props), props) is None
        conn.execute("DROP TABLE na_child, na_parent")  # dropped while the pack runs
        with pytest.raises(_NotApplicableError) as skipped:
            run(importlib.import_module(module_name).POLICY, props, fresh=False)
        assert skipped.value.reason == reason
