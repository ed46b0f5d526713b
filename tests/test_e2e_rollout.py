"""The rollout through the real pulumi CLI against the test database, asserting pg_constraint after
each step: add NOT VALID, validate from config, the plan's Phase 3.3 behaviours, rollback with
destroy --target, drift seen by refresh, and definitions identical to the plan's own SQL."""

import json
from pathlib import Path

import psycopg
import pytest

from fkguard.apms.generate import generate, reset_schema
from fkguard.catalog import load_catalog
from fkguard.resource_properties import RESOURCE_TYPE as TYPE  # the one constant (tests/test_resource_type.py)

CATALOG = load_catalog()
NAMES = [fk.name for fk in CATALOG]
PLAN_SQL = (Path(__file__).parent / "data" / "plan_migration.sql").read_text()


def constraints(conn) -> dict[str, bool]:
    """conname -> convalidated, for every foreign key in public."""
    return dict(conn.execute("SELECT conname, convalidated FROM pg_constraint "
                             "WHERE contype = 'f' AND connamespace = 'public'::regnamespace"))


def definitions(conn) -> dict[str, str]:
    return dict(conn.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                             "WHERE contype = 'f' AND connamespace = 'public'::regnamespace"))


def up(project, *extra):
    return project.run("up", "--stack", "local", "--yes", "--skip-plugin-pre-install", *extra)


def outputs(project):
    return json.loads(project.run("stack", "output", "--json", "--stack", "local").stdout)


def urn(name):
    return f"urn:pulumi:local::fkguard::{TYPE}::{name}"


@pytest.fixture()
def seeded(conn):
    generate(conn, 2000, {}, progress=lambda _: None)
    return conn


def test_up_adds_all_16_not_valid_then_config_validates_them(project, seeded):
    up(project)
    assert constraints(seeded) == {name: False for name in NAMES}
    assert set(outputs(project)["constraints"].values()) == {"not valid"}

    project.run("config", "set", "fkguard:validateTiers", "critical", "--stack", "local")
    up(project)
    validated = {name for name, done in constraints(seeded).items() if done}
    assert validated == {"fk_workflow_instances_config_version", "fk_workflow_instances_workspace"}

    project.run("config", "set", "fkguard:validateTiers", "all", "--stack", "local")
    result = up(project)
    assert constraints(seeded) == {name: True for name in NAMES}
    assert set(outputs(project)["constraints"].values()) == {"validated"}
    assert "14 updated" in result.stdout  # only the 14 not yet validated were touched


def test_plan_phase_3_3_behaviours_hold(project, seeded):
    project.run("config", "set", "fkguard:validateTiers", "all", "--stack", "local")
    up(project)
    # Test 1: an insert with a missing parent is refused.
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="fk_workflow_instances_config_version"):
        seeded.execute("""INSERT INTO workflow_instances (id, workspace_id, config_version_id, approval_policy_id,
                          site_id, scope_id, atp_category, status, current_stage_number, created_by)
                          VALUES (gen_random_uuid()::text, (SELECT id FROM workspaces LIMIT 1), 'invalid-config-id',
                          gen_random_uuid()::text, 'TEST-SITE-1', (SELECT id FROM atp_scope_master LIMIT 1),
                          'HARDWARE', 'IN_PROGRESS', 1, 'test-user')""")
    # Test 2: RESTRICT: a config version in use cannot be deleted. (The plan's query selects
    # workflow ids, which match no config version, so it deletes nothing: this one aims at a used one.)
    # PostgreSQL 18 reports a RESTRICT refusal as restrict_violation (23001), older ones as 23503.
    with pytest.raises((psycopg.errors.ForeignKeyViolation, psycopg.errors.RestrictViolation),
                       match="fk_workflow_instances_config_version"):
        seeded.execute("DELETE FROM config_versions WHERE id = (SELECT config_version_id FROM workflow_instances "
                       "LIMIT 1)")
    # Test 3: CASCADE: deleting a workflow removes its stages (in a transaction rolled back).
    with seeded.transaction(force_rollback=True):
        seeded.execute("INSERT INTO workflow_instances (id, workspace_id, config_version_id, site_id, atp_category, "
                       "created_by) SELECT 'wf-test', workspace_id, id, 'S', 'HARDWARE', 't' FROM config_versions "
                       "LIMIT 1")
        seeded.execute("INSERT INTO workflow_stages (id, workflow_instance_id, stage_number, stage_name) "
                       "VALUES ('st-1', 'wf-test', 1, 'one'), ('st-2', 'wf-test', 2, 'two')")
        seeded.execute("DELETE FROM workflow_instances WHERE id = 'wf-test'")
        assert seeded.execute("SELECT count(*) FROM workflow_stages WHERE workflow_instance_id = 'wf-test'"
                              ).fetchone()[0] == 0


def test_destroy_target_drops_exactly_the_targets_and_up_restores_them(project, seeded):
    up(project)
    low = [fk.name for fk in CATALOG if fk.tier == "low"]
    targets = [arg for name in low for arg in ("--target", urn(name))]
    project.run("destroy", "--stack", "local", "--yes", "--skip-plugin-pre-install", *targets)
    assert set(constraints(seeded)) == set(NAMES) - set(low)
    up(project)
    assert set(constraints(seeded)) == set(NAMES)


def test_fkguard_rollback_of_a_middle_tier_takes_the_later_ones_and_says_so(project, seeded):
    up(project)
    result = project.fkguard("rollback", "-s", "local", "--tier", "medium", "--yes")
    later = sorted(fk.name for fk in CATALOG if fk.tier == "low")
    assert f"later tiers depend on these, so they go too: {', '.join(later)}" in result.stdout
    assert "--target-dependents" in result.stdout
    kept = {fk.name for fk in CATALOG if fk.tier in ("critical", "high")}
    assert set(constraints(seeded)) == kept
    state = json.loads(project.state_file("local").read_text())["checkpoint"]["latest"]["resources"]
    assert sorted(r["urn"].rsplit("::", 1)[-1] for r in state if r["urn"].split("::")[-2].endswith("TierGate")) == [
        "tier-critical-done", "tier-high-done"]
    up(project)
    assert set(constraints(seeded)) == set(NAMES)


def test_fkguard_rollback_of_one_last_tier_constraint_takes_it_alone(project, seeded):
    up(project)
    unattended = project.fkguard("rollback", "-s", "local", "--constraint", "fk_workflow_stage_actions_stage",
                                 check=False, stdin="")  # a script: no terminal, no --yes
    assert unattended.returncode == 2
    assert unattended.stderr.strip() == ("fkguard rollback: nothing dropped: pulumi asks for a confirmation and there "
                                         "is no terminal to answer it; add --yes (or --print to see the command only)")
    assert set(constraints(seeded)) == set(NAMES)
    result = project.fkguard("rollback", "-s", "local", "--constraint", "fk_workflow_stage_actions_stage", "--yes")
    assert "--target-dependents" not in result.stdout and "go too" not in result.stdout
    assert set(constraints(seeded)) == set(NAMES) - {"fk_workflow_stage_actions_stage"}


def test_hand_made_drift_is_seen_by_refresh_and_corrected_by_up(project, seeded):
    up(project)
    seeded.execute("ALTER TABLE punchlists DROP CONSTRAINT fk_punchlists_workflow_instance")
    seeded.execute("ALTER TABLE workflow_stages VALIDATE CONSTRAINT fk_workflow_stages_workflow_instance")
    seeded.execute("ALTER TABLE vendor_master DROP CONSTRAINT fk_vendor_master_workspace")
    seeded.execute("ALTER TABLE vendor_master ADD CONSTRAINT fk_vendor_master_workspace FOREIGN KEY (workspace_id) "
                   "REFERENCES workspaces(id) ON DELETE CASCADE NOT VALID")

    preview = project.run("preview", "--stack", "local", "--refresh", "--skip-plugin-pre-install", "--diff")
    assert "fk_punchlists_workflow_instance" in preview.stdout and "fk_vendor_master_workspace" in preview.stdout
    refresh = project.run("refresh", "--stack", "local", "--yes", "--skip-plugin-pre-install")
    assert "fk_punchlists_workflow_instance" in refresh.stdout and "deleted" in refresh.stdout
    exported = json.loads(project.run("stack", "export", "--stack", "local").stdout)
    recorded = {r["outputs"]["constraintName"]: r for r in exported["deployment"]["resources"] if r["type"] == TYPE}
    assert "fk_punchlists_workflow_instance" not in recorded
    assert recorded["fk_workflow_stages_workflow_instance"]["outputs"]["state"] == "validated"
    assert recorded["fk_vendor_master_workspace"]["inputs"]["onDelete"] == "CASCADE"

    up(project)
    defs = definitions(seeded)
    assert defs["fk_punchlists_workflow_instance"].endswith("ON DELETE RESTRICT NOT VALID")
    assert defs["fk_vendor_master_workspace"].endswith("ON DELETE RESTRICT NOT VALID")
    assert constraints(seeded)["fk_workflow_stages_workflow_instance"] is True  # cannot be un-validated


def test_fkguard_definitions_equal_the_plans_own_sql(project, conn):
    reset_schema(conn)
    with conn.transaction():
        conn.execute(PLAN_SQL)
    from_plan = definitions(conn)
    assert len(from_plan) == 16

    reset_schema(conn)
    up(project)
    assert definitions(conn) == from_plan
