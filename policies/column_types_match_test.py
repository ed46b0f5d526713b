from column_types_match import POLICY

from conftest import compliant, golden, run
from fkguard.catalog import ForeignKey, QualifiedName
from fkguard.resource_properties import inputs_of


def typed(conn, child_type: str, parent_type: str) -> dict:
    conn.execute("DROP TABLE IF EXISTS typed_child, typed_parent")
    conn.execute(f"CREATE TABLE typed_parent (id {parent_type} PRIMARY KEY); "
                 f"CREATE TABLE typed_child (id int PRIMARY KEY, parent_id {child_type})")
    return inputs_of(ForeignKey("fk_typed_child_parent", "low", QualifiedName("public", "typed_child"), ("parent_id",),
                                QualifiedName("public", "typed_parent"), ("id",), "RESTRICT"), False)


def test_compliant_passes(stack):
    assert run(POLICY, compliant()) == []


def test_compatible_types_pass_as_postgresql_accepts_them(stack, conn):
    conn.execute("ALTER TABLE workflow_stages ALTER COLUMN workflow_instance_id TYPE varchar(64)")
    assert run(POLICY, compliant()) == []
    assert run(POLICY, typed(conn, "integer", "bigint")) == []


def test_a_type_postgresql_refuses_is_named_with_the_fix(stack, conn):
    golden("column-types-match/uuid-text", run(POLICY, typed(conn, "uuid", "text")))


def test_a_type_every_check_must_cast_is_refused(stack, conn):
    golden("column-types-match/integer-numeric", run(POLICY, typed(conn, "integer", "numeric")))
