import dataclasses

import context
from tier_order import POLICY

from conftest import compliant, run


def test_compliant_passes(stack):
    assert run(POLICY, compliant()) == []  # all tiers added, none validated


def test_adding_a_tier_before_an_earlier_one_is_refused(stack):
    context.register(dataclasses.replace(stack, options=dataclasses.replace(stack.options, add_tiers=("high",))))
    assert run(POLICY, compliant()) == [
        "fk_workflow_stages_workflow_instance is in tier high, which fkguard:addTiers lists while the earlier "
        "critical is left out\nFix: follow the plan's order: pulumi config set fkguard:addTiers critical,high "
        "-s unit\nSee: docs/policies/tier-order.md"]


def test_validating_a_tier_before_an_earlier_one_is_refused(stack):
    options = dataclasses.replace(stack.options, validate_tiers=("high",))
    context.register(dataclasses.replace(stack, options=options))
    assert run(POLICY, compliant(validated=True)) == [
        "fk_workflow_stages_workflow_instance is in tier high, which fkguard:validateTiers lists while the earlier "
        "critical is left out\nFix: follow the plan's order: pulumi config set fkguard:validateTiers "
        "critical,high -s unit\nSee: docs/policies/tier-order.md"]
