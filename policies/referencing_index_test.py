import dataclasses

import context
import pytest
from referencing_index import POLICY

from conftest import CATALOG, golden, run
from fkguard.catalog import QualifiedName
from fkguard.resource_properties import inputs_of

PUNCHLISTS = CATALOG[5]  # fk_punchlists_workflow_instance (RESTRICT): no index on the referencing column


@pytest.fixture()
def unmanaged(stack):
    """The stack's catalog with `index: none` on the punchlists key and on a partitioned one: the keys this
    policy judges (fkguard builds every other key's index itself)."""
    parted = dataclasses.replace(PUNCHLISTS, name="fk_ri_parted", table=QualifiedName("public", "ri_parted"),
                                 index="none")
    catalog = [dataclasses.replace(fk, index="none") if fk is PUNCHLISTS else fk for fk in CATALOG] + [parted]
    context.register(dataclasses.replace(stack, catalog=catalog))
    return stack


def test_indexed_columns_pass(stack):
    assert run(POLICY, inputs_of(CATALOG[2], False)) == []  # workflow_stages (workflow_instance_id) is indexed


def test_a_key_whose_index_fkguard_builds_passes(stack):
    assert PUNCHLISTS.index == "auto"
    assert run(POLICY, inputs_of(PUNCHLISTS, False)) == []


def test_unindexed_columns_get_the_concurrent_index_to_create(unmanaged):
    golden("referencing-index/unindexed", run(POLICY, inputs_of(PUNCHLISTS, False)))


def test_above_the_stacks_row_threshold_only_the_listed_actions_count(unmanaged, conn):
    conn.execute("ANALYZE punchlists")
    rows = conn.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = 'punchlists'::regclass").fetchone()[0]
    assert rows > 0
    props = inputs_of(PUNCHLISTS, False)
    assert len(run(POLICY, props, {"mandatoryAboveRows": rows - 1})) == 1
    assert run(POLICY, props, {"mandatoryAboveRows": rows}) == []  # not above it
    assert run(POLICY, props, {"mandatoryAboveRows": 0, "onDelete": ["CASCADE", "SET NULL"]}) == []  # RESTRICT not listed
    assert len(run(POLICY, props, {"mandatoryAboveRows": 0, "onDelete": ["RESTRICT"]})) == 1


def test_the_suggested_index_satisfies_the_policy(unmanaged, conn):
    conn.execute("CREATE INDEX CONCURRENTLY punchlists_workflow_instance_id_idx ON punchlists (workflow_instance_id)")
    assert run(POLICY, inputs_of(PUNCHLISTS, False)) == []


def test_a_partitioned_table_gets_the_per_partition_plan_that_postgresql_accepts(unmanaged, conn):
    conn.execute("DROP TABLE IF EXISTS ri_parted; CREATE TABLE ri_parted (id int, workflow_instance_id text, "
                 "part int NOT NULL, sub int NOT NULL) PARTITION BY LIST (part); "
                 "CREATE TABLE ri_parted_1 PARTITION OF ri_parted FOR VALUES IN (1); "
                 "CREATE TABLE ri_parted_2 PARTITION OF ri_parted FOR VALUES IN (2) PARTITION BY LIST (sub); "
                 "CREATE TABLE ri_parted_2a PARTITION OF ri_parted_2 FOR VALUES IN (1)")
    try:
        parted = inputs_of(PUNCHLISTS, False) | {"table": "public.ri_parted", "constraintName": "fk_ri_parted"}
        message, = run(POLICY, parted)
        plan = message.split("or before the rollout: ")[1].split("\n")[0].rstrip(";").split("; ")
        assert plan == [
            'CREATE INDEX CONCURRENTLY "ri_parted_1_workflow_instance_id_idx" ON "public"."ri_parted_1" ("workflow_instance_id")',
            'CREATE INDEX CONCURRENTLY "ri_parted_2a_workflow_instance_id_idx" ON "public"."ri_parted_2a" '
            '("workflow_instance_id")',
            'CREATE INDEX "ri_parted_2_workflow_instance_id_idx" ON ONLY "public"."ri_parted_2" ("workflow_instance_id")',
            'ALTER INDEX "public"."ri_parted_2_workflow_instance_id_idx" ATTACH PARTITION '
            '"public"."ri_parted_2a_workflow_instance_id_idx"',
            'CREATE INDEX "ri_parted_workflow_instance_id_idx" ON ONLY "public"."ri_parted" ("workflow_instance_id")',
            'ALTER INDEX "public"."ri_parted_workflow_instance_id_idx" ATTACH PARTITION '
            '"public"."ri_parted_1_workflow_instance_id_idx"',
            'ALTER INDEX "public"."ri_parted_workflow_instance_id_idx" ATTACH PARTITION '
            '"public"."ri_parted_2_workflow_instance_id_idx"']
        for statement in plan:  # one at a time, as psql would send them: CONCURRENTLY runs outside a transaction
            conn.execute(statement)
        assert conn.execute("SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid::regclass::text LIKE 'ri_parted%'"
                            ).fetchone()[0] is True
        assert run(POLICY, parted) == []
    finally:
        conn.execute("DROP TABLE ri_parted")
