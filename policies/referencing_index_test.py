from referencing_index import POLICY

from conftest import CATALOG, run
from fkguard.props import inputs_of


def test_indexed_columns_pass(stack):
    assert run(POLICY, inputs_of(CATALOG[2], False)) == []  # workflow_stages (workflow_instance_id) is indexed


def test_unindexed_columns_get_the_concurrent_index_to_create(stack):
    punchlists = CATALOG[5]  # fk_punchlists_workflow_instance: no index on the referencing column
    assert run(POLICY, inputs_of(punchlists, False)) == [
        "fk_punchlists_workflow_instance: no index on public.punchlists (workflow_instance_id), so each delete from "
        "public.workflow_instances scans public.punchlists for children. Instead, before the rollout: CREATE INDEX "
        "CONCURRENTLY \"punchlists_workflow_instance_id_idx\" ON \"public\".\"punchlists\" (\"workflow_instance_id\");"]


def test_the_suggested_index_satisfies_the_policy(stack, conn):
    conn.execute("CREATE INDEX CONCURRENTLY punchlists_workflow_instance_id_idx ON punchlists (workflow_instance_id)")
    assert run(POLICY, inputs_of(CATALOG[5], False)) == []
