import context
from constraint_name import POLICY

from conftest import CATALOG, compliant, run
from fkguard.catalog import ForeignKey


def test_compliant_passes(stack):
    assert run(POLICY, compliant()) == []


def test_two_names_equal_once_cut_to_63_bytes(stack):
    base = "fk_" + "a" * 60  # 63 bytes
    twin = ForeignKey(**{**CATALOG[2].__dict__, "name": base + "_twin"})
    stack.catalog = [*CATALOG, twin]
    context.register(stack)
    assert run(POLICY, compliant(constraintName=base)) == [
        f"{base} and {base}_twin are the same name to PostgreSQL once cut to 63 bytes\n"
        f"Fix: give each constraint a distinct name\nSee: docs/policies/constraint-name.md"]


def test_a_name_taken_by_another_kind_of_constraint(stack):
    assert run(POLICY, compliant(constraintName="workflow_stages_status_check")) == [
        "public.workflow_stages already has a constraint named workflow_stages_status_check that is not a foreign "
        "key (CHECK ((status = ANY (ARRAY['PENDING'::text, 'IN_PROGRESS'::text, 'APPROVED'::text, "
        "'REJECTED'::text, 'SKIPPED'::text]))))\nFix: give the foreign key another name in its "
        "catalog entry\nSee: docs/policies/constraint-name.md"]
