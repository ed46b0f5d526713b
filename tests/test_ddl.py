"""SQL composition: every name quoted by psycopg.sql, whatever it contains, and accepted by PostgreSQL."""

import pytest

from fkguard import ddl, introspect, rollout
from fkguard.catalog import ForeignKey, QualifiedName, load_catalog
from fkguard.locks import LockPolicy
from fkguard.operations import AddNotValid, DropConstraint, Validate


def fk(**changes) -> ForeignKey:
    base = dict(name="fk_child_parent", tier="high", table=QualifiedName("public", "child"), columns=("parent_id",),
                references=QualifiedName("public", "parent"), referenced_columns=("id",), on_delete="RESTRICT")
    return ForeignKey(**{**base, **changes})


def test_add_not_valid_reads_like_the_plan(conn):
    statement = ddl.add_not_valid(load_catalog()[0]).as_string(conn)
    assert statement == ('ALTER TABLE "public"."workflow_instances" ADD CONSTRAINT "fk_workflow_instances_config_version" '
                         'FOREIGN KEY ("config_version_id") REFERENCES "public"."config_versions" ("id") '
                         'ON DELETE RESTRICT NOT VALID')


def test_match_full_and_on_update_only_when_asked(conn):
    statement = ddl.add_not_valid(fk(match="FULL", on_update="CASCADE", on_delete="SET NULL")).as_string(conn)
    assert statement.endswith('("id") MATCH FULL ON DELETE SET NULL ON UPDATE CASCADE NOT VALID')


def test_validate_and_drop(conn):
    assert ddl.validate(fk()).as_string(conn) == 'ALTER TABLE "public"."child" VALIDATE CONSTRAINT "fk_child_parent"'
    assert ddl.drop(fk()).as_string(conn) == 'ALTER TABLE "public"."child" DROP CONSTRAINT IF EXISTS "fk_child_parent"'


def test_an_action_outside_the_list_never_reaches_sql():
    with pytest.raises(ValueError, match="'CASCADE; DROP TABLE x' is not one of"):
        ddl.add_not_valid(fk(on_delete="CASCADE; DROP TABLE x"))


STRANGE = [
    ("Other Schema", "Child Table", "Parent Id", "Parent\"Table", "id", 'Fk "quoted" name'),
    ("public", "child; DROP TABLE x", "a'b", "parent", "ID", "fk_'; DROP TABLE parent; --"),
]


@pytest.mark.parametrize("schema, child, col, parent, pk, name", STRANGE)
def test_strange_but_valid_names_work_and_injection_is_inert(conn, schema, child, col, parent, pk, name):
    q = lambda *parts: ".".join('"' + p.replace('"', '""') + '"' for p in parts)  # noqa: E731  test-side DDL only
    conn.execute(f"DROP SCHEMA IF EXISTS {q(schema)} CASCADE" if schema != "public" else "SELECT 1")
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q(schema)}")
    conn.execute(f"DROP TABLE IF EXISTS {q(schema, child)}, {q(schema, parent)} CASCADE")
    conn.execute(f"CREATE TABLE {q(schema, parent)} ({q(pk)} text PRIMARY KEY)")
    conn.execute(f"CREATE TABLE {q(schema, child)} (id int, {q(col)} text)")
    key = fk(name=name, table=QualifiedName(schema, child), columns=(col,), references=QualifiedName(schema, parent),
             referenced_columns=(pk,))
    assert rollout.preflight(conn, key) == []
    outcome = AddNotValid(key, LockPolicy()).run(conn)
    assert outcome.state == "not valid"
    found = introspect.read_constraint(conn, key.table, name)
    assert found is not None and found.same_as(key)
    assert Validate(key, LockPolicy()).run(conn).state == "validated"
    DropConstraint(key, LockPolicy()).run(conn)
    assert introspect.read_constraint(conn, key.table, name) is None
    assert conn.execute("SELECT to_regclass(%s)", (q(schema, parent),)).fetchone()[0] is not None
    conn.execute(f"DROP TABLE {q(schema, child)}, {q(schema, parent)}")
