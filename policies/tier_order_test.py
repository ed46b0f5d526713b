import dataclasses

import context
from tier_order import POLICY

from conftest import compliant, golden, run


def test_compliant_passes(stack):
    assert run(POLICY, compliant()) == []  # all tiers added, none validated


def test_adding_a_tier_before_an_earlier_one_is_refused(stack):
    context.register(dataclasses.replace(stack, options=dataclasses.replace(stack.options, add_tiers=("high",))))
    golden("tier-order/add-tiers-gap", run(POLICY, compliant()))


def test_validating_a_tier_before_an_earlier_one_is_refused(stack):
    options = dataclasses.replace(stack.options, validate_tiers=("high",))
    context.register(dataclasses.replace(stack, options=options))
    golden("tier-order/validate-tiers-gap", run(POLICY, compliant(validated=True)))
