from column_types_match import POLICY

from conftest import compliant, run


def test_compliant_passes(stack):
    assert run(POLICY, compliant()) == []


def test_a_type_mismatch_is_named_with_the_fix(stack, conn):
    conn.execute("ALTER TABLE workflow_stages ALTER COLUMN workflow_instance_id TYPE varchar(64)")
    assert run(POLICY, compliant()) == [
        "fk_workflow_stages_workflow_instance: public.workflow_stages.workflow_instance_id is character varying(64) "
        "but public.workflow_instances.id is text. Instead, align them: ALTER TABLE \"public\".\"workflow_stages\" "
        "ALTER COLUMN \"workflow_instance_id\" TYPE text; (this rewrites the table: plan a window for it)"]
