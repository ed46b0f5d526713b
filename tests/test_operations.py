"""fkguard.operations: what an operation's plan_sql shows at preview is what its run then runs, statement for
statement (the plan adds the locks each takes), on a plain table and on a partitioned one."""

from dataclasses import replace

import pytest

from fkguard import ddl, introspect
from fkguard.catalog import ForeignKey, QualifiedName
from fkguard.indexes import Wanted
from fkguard.locks import LockPolicy
from fkguard.operations import AlterDeferral, BuildIndex, CreateConstraint, DropConstraint, DropIndex, Operation
from tests import shapes

PARENT = QualifiedName("ops", "parent")
PLAIN = QualifiedName("ops", "child")
PARTED = QualifiedName("ops", "events")


@pytest.fixture()
def ops(conn):
    conn.execute("DROP SCHEMA IF EXISTS ops CASCADE; CREATE SCHEMA ops; "
                 "CREATE TABLE ops.parent (id int PRIMARY KEY); INSERT INTO ops.parent SELECT generate_series(1, 100); "
                 "CREATE TABLE ops.child (id int PRIMARY KEY, parent_id int); "
                 "INSERT INTO ops.child SELECT g, 1 + g % 100 FROM generate_series(1, 500) g")
    conn.execute(shapes.two_level_partitioned("ops", "events", "parent_id", "day"))
    yield conn
    conn.execute("DROP SCHEMA ops CASCADE")


def statements(plan: list[str]) -> list[str]:
    return [line.split(";  -- ")[0] for line in plan]


def planned_then_ran(conn, operation: Operation) -> tuple[list[str], list[str]]:
    plan = statements(operation.plan_sql(conn))
    return plan, operation.run(conn).sql


@pytest.mark.parametrize("table", [PLAIN, PARTED])
def test_each_constraint_operation_runs_what_it_planned(ops, table):
    fk = ForeignKey("fk_ops_parent", "high", table, ("parent_id",), PARENT, ("id",), "RESTRICT")
    policy = LockPolicy()
    plan, ran = planned_then_ran(ops, CreateConstraint(fk, policy, validated=True))
    assert plan == ran and introspect.read_constraint(ops, table, fk.name) is not None
    deferred = replace(fk, deferrable=True, initially_deferred=True)
    assert AlterDeferral(deferred, policy).plan_sql(ops)[0].startswith(
        f'ALTER TABLE "ops"."{table.name}" ALTER CONSTRAINT "fk_ops_parent" DEFERRABLE INITIALLY DEFERRED;  -- ')
    assert AlterDeferral(deferred, policy).run(ops).sql[-1].endswith("DEFERRABLE INITIALLY DEFERRED")
    plan, ran = planned_then_ran(ops, DropConstraint(fk, policy))
    assert plan == ran and introspect.read_constraint(ops, table, fk.name) is None


def test_an_index_build_and_drop_run_what_they_planned(ops):
    wanted, policy = Wanted(PLAIN, ("parent_id",)), LockPolicy()
    plan, ran = planned_then_ran(ops, BuildIndex(wanted, policy))
    building = ddl.building_name(PLAIN, ("parent_id",))
    assert plan == ran == [f'CREATE INDEX CONCURRENTLY "{building}" ON "ops"."child" ("parent_id")', ran[1],
                           f'ALTER INDEX "ops"."{building}" RENAME TO "{wanted.name}"']
    drop = DropIndex("ops", wanted.name, wanted, ours=True, policy=policy)
    plan = statements(drop.plan_sql(ops))
    outcome = drop.run(ops)
    assert plan == outcome.sql == [f'DROP INDEX CONCURRENTLY IF EXISTS "ops"."{wanted.name}"'] and not outcome.kept
    assert drop.plan_sql(ops) == drop.run(ops).sql == [f"-- ops.{wanted.name} is already gone"]
    assert DropIndex("ops", "theirs", wanted, ours=False, policy=policy).run(ops).kept is True
