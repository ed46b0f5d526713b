from referenced_key_unique import POLICY

from conftest import compliant, golden, run


def test_compliant_passes(stack):
    assert run(POLICY, compliant()) == []


def test_referencing_a_column_without_a_key_is_refused_with_the_fix(stack):
    golden("referenced-key-unique/no-key", run(POLICY, compliant(referencedColumns=["site_id"])))
