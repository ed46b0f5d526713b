from safe_pattern import POLICY

from conftest import compliant, golden, run


def test_compliant_not_valid_first_passes(stack):
    assert run(POLICY, compliant()) == []


def test_adding_and_validating_in_one_deployment_is_refused(stack):
    golden("safe-pattern/add-and-validate", run(POLICY, compliant(validated=True)))


def test_validating_an_existing_constraint_is_the_safe_second_step(stack, conn):
    conn.execute("ALTER TABLE workflow_stages ADD CONSTRAINT fk_workflow_stages_workflow_instance FOREIGN KEY "
                 "(workflow_instance_id) REFERENCES workflow_instances(id) ON DELETE CASCADE NOT VALID")
    assert run(POLICY, compliant(validated=True)) == []


def test_validating_a_partitioned_table_added_on_its_partitions_is_the_second_step(stack, conn):
    conn.execute("DROP TABLE IF EXISTS sp_parted; CREATE TABLE sp_parted (workflow_instance_id text, part int NOT NULL) "
                 "PARTITION BY LIST (part); CREATE TABLE sp_parted_1 PARTITION OF sp_parted FOR VALUES IN (1)")
    try:
        parted = compliant(validated=True, table="public.sp_parted")
        assert len(run(POLICY, parted)) == 1  # nothing added yet
        conn.execute("ALTER TABLE sp_parted_1 ADD CONSTRAINT fk_workflow_stages_workflow_instance FOREIGN KEY "
                     "(workflow_instance_id) REFERENCES workflow_instances(id) ON DELETE CASCADE NOT VALID")
        assert run(POLICY, parted) == []
    finally:
        conn.execute("DROP TABLE sp_parted")
