from explicit_on_delete import POLICY

from conftest import compliant, golden, run


def test_compliant_passes(stack):
    assert run(POLICY, compliant()) == []


def test_on_delete_left_to_the_default_is_refused(stack):
    golden("explicit-on-delete/left-to-the-default", run(POLICY, compliant(onDelete="NO ACTION", onDeleteExplicit=False)))


def test_an_explicit_no_action_is_a_decision(stack):
    assert run(POLICY, compliant(onDelete="NO ACTION", onDeleteExplicit=True)) == []
