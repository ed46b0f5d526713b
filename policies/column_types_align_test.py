from column_types_align import POLICY
from column_types_match_test import typed

from conftest import compliant, golden, run


def test_compliant_passes(stack):
    assert run(POLICY, compliant()) == []


def test_compatible_types_are_advice_with_the_reason(stack, conn):
    golden("column-types-align/integer-bigint", run(POLICY, typed(conn, "integer", "bigint")))


def test_a_narrower_varchar_is_advice(stack, conn):
    conn.execute("ALTER TABLE workflow_stages ALTER COLUMN workflow_instance_id TYPE varchar(64)")
    golden("column-types-align/varchar-text", run(POLICY, compliant()))


def test_what_match_refuses_is_not_repeated_here(stack, conn):
    assert run(POLICY, typed(conn, "uuid", "text")) == []
