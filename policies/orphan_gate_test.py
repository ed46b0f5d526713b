from orphan_gate import POLICY

from conftest import CATALOG, COMPLIANT, compliant, golden, run
from fkguard import debt
from fkguard.apms.generate import generate
from fkguard.resource_properties import inputs_of
from fkguard_testing.fixtures import as_superuser


def test_compliant_passes(stack):
    assert run(POLICY, compliant()) == []
    assert run(POLICY, compliant(validated=True)) == []


def test_orphans_block_adding_with_count_keys_and_the_command(stack, conn):
    generate(conn, 1000, {COMPLIANT: 4}, progress=lambda _: None)
    # which three of the four keys: PostgreSQL's order (the golden file shows each as <uuid>)
    golden("orphan-gate/adding", run(POLICY, compliant()))

def test_orphans_block_validating_even_when_not_valid_is_allowed(stack, conn):
    generate(conn, 1000, {COMPLIANT: 1}, progress=lambda _: None)
    assert run(POLICY, compliant(), {"allowNotValidOverOrphans": True}) == []
    golden("orphan-gate/validating", run(POLICY, compliant(validated=True), {"allowNotValidOverOrphans": True}))


def test_accepted_debt_allows_not_valid_up_to_its_count_but_never_validation(stack, conn):
    generate(conn, 1000, {COMPLIANT: 2}, progress=lambda _: None)
    stack.debts = debt.Ledger(None, (debt.Debt(COMPLIANT.name, "unit", 2, "legacy import, APMS-1", "ana", "2026-11-27"),))
    assert run(POLICY, compliant()) == []
    golden("orphan-gate/validating-accepted-debt", run(POLICY, compliant(validated=True)))
    stack.debts = debt.Ledger(None, (debt.Debt(COMPLIANT.name, "unit", 1, "legacy import, APMS-1", "ana", "2026-11-27"),))
    golden("orphan-gate/adding-over-accepted-debt", run(POLICY, compliant()))


def test_null_keys_are_exempt_as_postgresql_exempts_them(stack, conn):
    vendors = CATALOG[8]  # fk_vendor_master_workspace: 10% of rows have a NULL workspace_id
    assert conn.execute("SELECT count(*) FROM vendor_master WHERE workspace_id IS NULL").fetchone()[0] > 0
    assert run(POLICY, inputs_of(vendors, False)) == []


def test_a_validated_constraint_is_proven_clean_without_a_scan(stack, conn):
    conn.execute("ALTER TABLE workflow_stages ADD CONSTRAINT fk_workflow_stages_workflow_instance FOREIGN KEY "
                 "(workflow_instance_id) REFERENCES workflow_instances(id) ON DELETE CASCADE")
    as_superuser("SET session_replication_role = replica; "  # an orphan slips in, as a bulk load might let it
                 "INSERT INTO workflow_stages (id, workflow_instance_id, stage_number, stage_name) "
                 "VALUES ('slipped', 'no-such-instance', 1, 'x')")
    assert run(POLICY, compliant(validated=True)) == []  # trusts convalidated, as PostgreSQL's planner does


def test_database_down_fails_closed(stack):
    from fkguard.stack.settings import ConnectionSettings
    stack.connection = ConnectionSettings("127.0.0.1", 1, "apms", "fkguard", "secret-pw", "disable")
    [message] = run(POLICY, compliant())
    assert message.startswith("orphan-gate could not check fk_workflow_stages_workflow_instance: cannot connect to "
                              "fkguard@127.0.0.1:1/apms")
    assert "secret-pw" not in message


def test_the_finding_records_its_rows_and_sample_for_the_fleet(stack, conn, tmp_path, monkeypatch):
    from fkguard import policy_findings

    recorded = tmp_path / "findings.jsonl"
    monkeypatch.setenv(policy_findings.ENV, str(recorded))
    generate(conn, 1000, {COMPLIANT: 4}, progress=lambda _: None)
    [message] = run(POLICY, compliant())
    [finding] = policy_findings.read(recorded)
    assert (finding.policy, finding.urn.rsplit("::", 1)[-1]) == ("orphan-gate", COMPLIANT.name)
    assert (finding.data["rows"], finding.data["columns"], finding.data["accepted"]) == (4, ["workflow_instance_id"], 0)
    assert len(finding.data["sample"]) == 3 and all(f"'{key}'" in message for [key] in finding.data["sample"])
