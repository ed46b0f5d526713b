from constraint_name import POLICY

from conftest import compliant, run
from fkguard.resource_properties import to_foreign_key


def test_compliant_passes(stack):
    assert run(POLICY, compliant()) == []


def test_names_postgresql_would_cut_never_reach_the_pack():
    import pytest

    from fkguard.catalog import CatalogError

    with pytest.raises(CatalogError, match="is 64 bytes; PostgreSQL keeps only 63"):
        to_foreign_key(compliant(constraintName="fk_" + "a" * 61))


def test_a_name_taken_by_another_kind_of_constraint(stack):
    assert run(POLICY, compliant(constraintName="workflow_stages_status_check")) == [
        "public.workflow_stages already has a constraint named workflow_stages_status_check that is not a foreign "
        "key (CHECK ((status = ANY (ARRAY['PENDING'::text, 'IN_PROGRESS'::text, 'APPROVED'::text, "
        "'REJECTED'::text, 'SKIPPED'::text]))))\nFix: give the foreign key another name in its "
        "catalog entry\nSee: docs/policies/constraint-name.md"]
