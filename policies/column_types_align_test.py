from column_types_align import POLICY
from column_types_match_test import typed

from conftest import compliant, run


def test_compliant_passes(stack):
    assert run(POLICY, compliant()) == []


def test_compatible_types_are_advice_with_the_reason(stack, conn):
    assert run(POLICY, typed(conn, "integer", "bigint")) == [
        "fk_typed_child_parent: public.typed_child.parent_id is integer and public.typed_parent.id is bigint; allowed: "
        "PostgreSQL compares them with =(bigint,integer), and both indexes serve the checks\nFix: when a table "
        "rewrite is affordable, align them: ALTER TABLE \"public\".\"typed_child\" ALTER COLUMN \"parent_id\" TYPE bigint;\nSee: docs/policies/column-types-align.md"]


def test_a_narrower_varchar_is_advice(stack, conn):
    conn.execute("ALTER TABLE workflow_stages ALTER COLUMN workflow_instance_id TYPE varchar(64)")
    [message] = run(POLICY, compliant())
    assert "workflow_instance_id is character varying(64) and public.workflow_instances.id is text; allowed: " \
           "character varying(64) is read as text without conversion" in message


def test_what_match_refuses_is_not_repeated_here(stack, conn):
    assert run(POLICY, typed(conn, "uuid", "text")) == []
