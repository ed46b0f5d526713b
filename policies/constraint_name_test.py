from constraint_name import POLICY

from conftest import compliant, golden, run
from fkguard.resource_properties import to_foreign_key


def test_compliant_passes(stack):
    assert run(POLICY, compliant()) == []


def test_names_postgresql_would_cut_never_reach_the_pack():
    import pytest

    from fkguard.catalog import CatalogError

    with pytest.raises(CatalogError, match="is 64 bytes; PostgreSQL keeps only 63"):
        to_foreign_key(compliant(constraintName="fk_" + "a" * 61))


def test_a_name_taken_by_another_kind_of_constraint(stack):
    golden("constraint-name/taken-by-a-check", run(POLICY, compliant(constraintName="workflow_stages_status_check")))
