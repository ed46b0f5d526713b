import dataclasses

import context
import tier_order
from tier_order import POLICY

from conftest import CATALOG, compliant, golden, run
from fkguard import ddl
from fkguard.catalog.selection import Selection
from fkguard.resource_properties import inputs_of


def test_compliant_passes(stack):
    assert run(POLICY, compliant()) == []  # all tiers added, none validated


def test_adding_a_tier_before_an_earlier_one_is_refused(stack):
    context.register(dataclasses.replace(stack, options=dataclasses.replace(stack.options, add_tiers=("high",))))
    golden("tier-order/add-tiers-gap", run(POLICY, compliant()))


def test_validating_a_tier_before_an_earlier_one_is_refused(stack):
    options = dataclasses.replace(stack.options, validate_tiers=("high",))
    context.register(dataclasses.replace(stack, options=options))
    golden("tier-order/validate-tiers-gap", run(POLICY, compliant(validated=True)))


def test_a_tier_is_validated_only_after_the_earlier_tiers_other_stacks_own(stack, conn):
    """A split by tier (fkguard:tiers): critical is another stack's, so high validates once critical's keys are
    validated in the database, not before; adding high needs no such wait."""
    tier_order._validated_before.clear()
    selection = Selection(tiers=("high", "medium", "low"))
    options = dataclasses.replace(stack.options, selection=selection, validate_tiers=("high",))
    context.register(dataclasses.replace(stack, options=options, catalog=[k for k in CATALOG if selection.owns(k)],
                                         others=[k for k in CATALOG if not selection.owns(k)]))
    critical = [k for k in CATALOG if k.tier == "critical"]
    high = next(k for k in CATALOG if k.tier == "high")
    assert run(POLICY, inputs_of(high, False)) == []
    found = run(POLICY, inputs_of(high, True))
    assert len(found) == 1 and found[0].startswith(
        f"{high.label} is in tier high, validated while 2 keys of the earlier critical, which other stacks of this "
        f"database own (fkguard:tiers), are not validated yet: {critical[0].label} (absent), {critical[1].label} "
        f"(absent)\nFix: validate the earlier tiers first from the stacks that own them")
    conn.autocommit = True
    conn.execute(ddl.add_not_valid(critical[0]))
    conn.execute(ddl.add_not_valid(critical[1]))
    assert f"{critical[0].label} (not valid)" in run(POLICY, inputs_of(high, True))[0]
    conn.execute(ddl.validate(critical[0]))
    conn.execute(ddl.validate(critical[1]))
    assert run(POLICY, inputs_of(high, True)) == []
