"""Every attribute of a foreign key through the real pulumi CLI and the fkguard command: a catalog
of our own with a DEFERRABLE key and an ON DELETE SET NULL (column) key goes in as written; a hand
change of either is drift that preview --refresh and fkguard status show and up --refresh undoes."""

import json
import re

import pytest

SCHEMA = """
DROP SCHEMA IF EXISTS attrs_e2e CASCADE;
CREATE SCHEMA attrs_e2e;
CREATE TABLE attrs_e2e.team (org_id int, id int, code text NOT NULL UNIQUE, PRIMARY KEY (org_id, id));
CREATE TABLE attrs_e2e.member (id int PRIMARY KEY, org_id int NOT NULL, team_id int, team_code text);
"""

CATALOG = """constraints:
  - name: fk_e2e_member_team
    tier: critical
    table: attrs_e2e.member
    columns: [org_id, team_id]
    references: attrs_e2e.team
    referenced_columns: [org_id, id]
    on_delete: SET NULL
    on_delete_columns: [team_id]
  - name: fk_e2e_member_code
    tier: high
    table: attrs_e2e.member
    columns: [team_code]
    references: attrs_e2e.team
    referenced_columns: [code]
    on_delete: RESTRICT
    deferrable: true
    initially_deferred: true
"""

TEAM_DEF = ("FOREIGN KEY (org_id, team_id) REFERENCES attrs_e2e.team(org_id, id) ON DELETE SET NULL (team_id) "
            "NOT VALID")
CODE_DEF = ("FOREIGN KEY (team_code) REFERENCES attrs_e2e.team(code) ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED "
            "NOT VALID")


def definitions(conn) -> dict[str, str]:
    return dict(conn.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                             "WHERE contype = 'f' AND connamespace = 'attrs_e2e'::regnamespace"))


def up(project, *extra):
    return project.run("up", "--stack", "local", "--yes", "--skip-plugin-pre-install", *extra)


def status(project) -> dict[str, dict]:
    return {r["constraint"]: r for r in json.loads(project.fkguard("status", "-s", "local", "--json").stdout)}


@pytest.fixture()
def attrs_project(project, conn):
    conn.execute(SCHEMA)
    (project.root / "attrs-catalog.yaml").write_text(CATALOG)
    project.run("config", "set", "fkguard:catalog", "attrs-catalog.yaml", "--stack", "local")
    yield project
    conn.execute("DROP SCHEMA attrs_e2e CASCADE")


def test_every_attribute_goes_in_and_hand_made_drift_is_seen_and_undone(attrs_project, conn):
    project = attrs_project
    up(project)
    assert definitions(conn) == {"fk_e2e_member_team": TEAM_DEF, "fk_e2e_member_code": CODE_DEF}
    assert all(r["differs"] == [] and not r["drift"] for r in status(project).values())

    conn.execute("ALTER TABLE attrs_e2e.member ALTER CONSTRAINT fk_e2e_member_team DEFERRABLE")
    conn.execute("ALTER TABLE attrs_e2e.member ALTER CONSTRAINT fk_e2e_member_code NOT DEFERRABLE")

    preview = project.run("preview", "--stack", "local", "--refresh", "--skip-plugin-pre-install", "--diff")
    assert "2 to update" in preview.stdout, preview.stdout
    assert re.search(r"~ deferrable\s*: true => false", preview.stdout)
    assert re.search(r"~ initiallyDeferred\s*: false => true", preview.stdout)
    assert 'ALTER CONSTRAINT \\"fk_e2e_member_team\\" NOT DEFERRABLE' in preview.stdout  # the plan, before it runs

    rows = status(project)
    assert rows["fk_e2e_member_team"]["differs"] == ["DEFERRABLE in the database, NOT DEFERRABLE in the catalog"]
    assert rows["fk_e2e_member_code"]["differs"] == [
        "NOT DEFERRABLE in the database, DEFERRABLE INITIALLY DEFERRED in the catalog"]
    assert rows["fk_e2e_member_team"]["drift"] and rows["fk_e2e_member_code"]["drift"]
    table = project.fkguard("status", "-s", "local").stdout
    assert "drift: definition differs: DEFERRABLE in the database, NOT DEFERRABLE in the catalog" in table
    assert "2 defined otherwise than the catalog" in table

    result = up(project, "--refresh")
    assert "2 updated" in result.stdout, result.stdout
    assert definitions(conn) == {"fk_e2e_member_team": TEAM_DEF, "fk_e2e_member_code": CODE_DEF}
    assert all(r["differs"] == [] and not r["drift"] for r in status(project).values())


def test_a_changed_set_null_column_list_is_replaced_by_the_catalogs(attrs_project, conn):
    project = attrs_project
    up(project)
    conn.execute("ALTER TABLE attrs_e2e.member DROP CONSTRAINT fk_e2e_member_team")
    conn.execute("ALTER TABLE attrs_e2e.member ADD CONSTRAINT fk_e2e_member_team FOREIGN KEY (org_id, team_id) "
                 "REFERENCES attrs_e2e.team (org_id, id) ON DELETE SET NULL NOT VALID")
    assert status(project)["fk_e2e_member_team"]["differs"] == [
        "ON DELETE SET NULL in the database, ON DELETE SET NULL (team_id) in the catalog"]
    preview = project.run("preview", "--stack", "local", "--refresh", "--skip-plugin-pre-install", "--diff")
    assert "1 to replace" in preview.stdout, preview.stdout
    result = up(project, "--refresh")
    assert "1 replaced" in result.stdout, result.stdout
    assert definitions(conn) == {"fk_e2e_member_team": TEAM_DEF, "fk_e2e_member_code": CODE_DEF}
