from referenced_key_unique import POLICY

from conftest import compliant, run


def test_compliant_passes(stack):
    assert run(POLICY, compliant()) == []


def test_referencing_a_column_without_a_key_is_refused_with_the_fix(stack):
    assert run(POLICY, compliant(referencedColumns=["site_id"])) == [
        "fk_workflow_stages_workflow_instance: public.workflow_instances (site_id) has no primary key or unique "
        "constraint, so PostgreSQL cannot reference it\nFix: add one without blocking writes: CREATE UNIQUE "
        "INDEX CONCURRENTLY \"workflow_instances_site_id_key\" ON \"public\".\"workflow_instances\" (\"site_id\"); "
        "ALTER TABLE \"public\".\"workflow_instances\" ADD CONSTRAINT \"workflow_instances_site_id_key\" UNIQUE "
        "USING INDEX \"workflow_instances_site_id_key\";\nSee: docs/policies/referenced-key-unique.md"]
