from explicit_on_delete import POLICY

from conftest import compliant, run


def test_compliant_passes(stack):
    assert run(POLICY, compliant()) == []


def test_on_delete_left_to_the_default_is_refused(stack):
    assert run(POLICY, compliant(onDelete="NO ACTION", onDeleteExplicit=False)) == [
        "fk_workflow_stages_workflow_instance does not say what deleting a row of public.workflow_instances does, "
        "so PostgreSQL's NO ACTION applies by default\nFix: state it in the catalog entry: on_delete: RESTRICT "
        "(a parent in use cannot go) or CASCADE (its children go with it)\nSee: docs/policies/explicit-on-delete.md"]


def test_an_explicit_no_action_is_a_decision(stack):
    assert run(POLICY, compliant(onDelete="NO ACTION", onDeleteExplicit=True)) == []
