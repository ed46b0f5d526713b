"""The catalog `fkguard discover` writes goes through the whole rollout unchanged: discover on the APMS
fixture (with orphans planted) -> the file -> fkguard:catalog -> audit -> the policy gate refuses the
orphans -> remediate -> pulumi up (NOT VALID) -> validate -> fkguard verify."""

import dataclasses
import json

import pytest

from bench import discover_rollout
from fkguard import discover
from fkguard.apms.generate import generate
from fkguard.catalog import load_catalog
from tests import discover_shapes as shapes
from tests.test_discover import fresh_database

PLAN = load_catalog()


def foreign_keys(conn) -> dict[str, tuple[bool, str]]:
    return {name: (valid, definition) for name, valid, definition in conn.execute(
        "SELECT conname, convalidated, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND connamespace = 'public'::regnamespace")}


@pytest.fixture()
def conn(pg, project):
    """The APMS fixture in a database of its own (nothing another test left behind gets discovered), the
    project copy's stack pointed at it."""
    for connection in fresh_database(pg, "discover_e2e"):
        project.run("config", "set", "postgresql:database", "discover_e2e", "--stack", "local")
        yield connection


def test_discovered_catalog_rolls_out_unchanged(project, conn):
    # One orphan per plan relationship: approver_overrides has 10 rows here, and 10 of 11 is still above 90%.
    generate(conn, 2000, {fk: 1 for fk in PLAN}, progress=lambda _: None)

    found = project.fkguard("discover", "-s", "local", "--out", "discovered.yaml")
    assert "discover: 17 tables in public" in found.stderr
    assert "discover: wrote 19 foreign keys to discovered.yaml" in found.stderr
    path = project.root / "discovered.yaml"
    written = path.read_text()
    catalog = load_catalog(path)
    assert len(catalog) == 19
    plan = {(fk.table, fk.columns, fk.references, fk.referenced_columns) for fk in PLAN}
    assert plan <= {(fk.table, fk.columns, fk.references, fk.referenced_columns) for fk in catalog}
    as_json = json.loads(project.fkguard("discover", "-s", "local", "--json").stdout)
    assert sorted(c["name"] for c in as_json["proposed"]) == sorted(fk.name for fk in catalog)

    project.run("config", "set", "fkguard:catalog", "discovered.yaml", "--stack", "local")
    audit = project.fkguard("audit", "-s", "local", "--json", check=False)
    assert audit.returncode == 1
    counted = {r["constraint"]: r["orphans"] for r in json.loads(audit.stdout)["relationships"]}
    assert sum(counted.values()) == 16 and set(counted) == {fk.name for fk in catalog}

    gate = project.gated("preview", check=False)
    assert gate.returncode != 0 and "orphan-gate" in gate.stdout + gate.stderr

    project.fkguard("remediate", "-s", "local", "--action", "delete", "--all", "--yes")
    assert project.fkguard("audit", "-s", "local").returncode == 0

    project.gated("up", "--yes")
    assert {name: valid for name, (valid, _) in foreign_keys(conn).items()} == {fk.name: False for fk in catalog}
    project.run("config", "set", "fkguard:validateTiers", "all", "--stack", "local")
    project.gated("up", "--yes")
    live = foreign_keys(conn)
    assert {name: valid for name, (valid, _) in live.items()} == {fk.name: True for fk in catalog}
    assert live["fk_workflow_stage_actions_stage"][1] == (
        "FOREIGN KEY (stage_id) REFERENCES workflow_stages(id) ON DELETE RESTRICT")
    assert project.fkguard("verify", "-s", "local").returncode == 0
    assert path.read_text() == written  # the file went through unchanged


@pytest.fixture()
def shop(pg):
    """discover_shapes' shop schema (its audit log keeps rows of deleted customers: orphans) in a database of its own."""
    for connection in fresh_database(pg, "discover_rollout"):
        connection.autocommit = True
        connection.execute(shapes.SHOP_SQL)
        yield connection, dataclasses.replace(pg, database="discover_rollout")


@pytest.mark.e2e
def test_the_bench_rolls_the_discovered_catalog_out_on_a_named_stack(shop):
    """`python -m bench.discover … --rollout`'s walk: `fkguard discover --out` writes the file, which goes unchanged
    through a stack `qa` made by `fkguard init` (a passphrase file of its own), audit, remediate, the gated preview
    and up, validation, verify, destroy and stack rm; the stack and its keys are gone afterwards."""
    conn, settings = shop
    found = discover.discover(conn, [shapes.SHOP], progress=lambda _: None)
    keys = {(str(c.table), tuple(c.columns), str(c.references), tuple(c.referenced_columns)) for c in found.proposed}
    declared = conn.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f'").fetchone()[0]

    steps = discover_rollout.rollout(settings, [shapes.SHOP], keys)
    result = {s.name: s.result for s in steps}
    n = len(keys)
    assert result["fkguard discover --out"] == f"{n} keys written"
    assert result["fkguard audit"].endswith(f"orphans in {n} relationships") and not result["fkguard audit"].startswith(
        "0 "), result  # audit_events' orphans: remediated, then the gate lets every key in
    assert result["fkguard remediate --all --action delete"] == "ok"
    assert result["fkguard audit (again)"] == f"0 orphans in {n} relationships"
    assert result["gated pulumi up"] == f"{n} keys added NOT VALID"
    assert result["gated pulumi up (validate)"] == f"{n} keys validated"
    assert result["fkguard verify"].endswith("checks passed"), result
    assert result["pulumi destroy"] == f"all {n} keys dropped"
    assert result["the file unchanged"].startswith("sha256 ")
    # Nothing left behind: the schema's own keys only.
    assert conn.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f'").fetchone()[0] == declared

    with pytest.raises(discover_rollout.RolloutFailed) as failed:  # the file must hold the keys the bench scored
        discover_rollout.rollout(settings, [shapes.SHOP], keys - {min(keys)})
    assert failed.value.step == "the file holds the keys the bench scored"
    assert "1 in the file only" in failed.value.output
