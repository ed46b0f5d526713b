"""A schema like the production one that broke the gate: an integer key referencing a bigint one
(PostgreSQL accepts it), a key kept NOT VALID on purpose while its tier validates, and a policy
set aside for one constraint with its reason, all through the real CLI."""

import json

import yaml

SCHEMA = """
DROP TABLE IF EXISTS wv_notes, wv_users, wv_orgs;
CREATE TABLE wv_orgs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text);
CREATE TABLE wv_users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, org_id integer NOT NULL);
CREATE INDEX ON wv_users (org_id);
CREATE TABLE wv_notes (id serial PRIMARY KEY, user_id bigint, body text);
INSERT INTO wv_orgs (name) SELECT 'org ' || g FROM generate_series(1, 20) g;
INSERT INTO wv_users (org_id) SELECT 1 + g % 20 FROM generate_series(1, 200) g;
INSERT INTO wv_notes (user_id, body) SELECT 1 + g % 200, 'note' FROM generate_series(1, 500) g;
"""
CATALOG = {"constraints": [
    {"name": "fk_wv_users_org", "tier": "critical", "table": "public.wv_users", "columns": ["org_id"],
     "references": "public.wv_orgs", "referenced_columns": ["id"], "on_delete": "RESTRICT"},
    {"name": "fk_wv_notes_user", "tier": "critical", "table": "public.wv_notes", "columns": ["user_id"],
     "references": "public.wv_users", "referenced_columns": ["id"], "on_delete": "CASCADE", "validated": False,
     "waivers": [{"policy": "referencing-index", "reason": "archive table, users are never deleted", "by": "ana"}]},
]}
WAIVED = "policy referencing-index waived by ana: archive table, users are never deleted"


def test_compatible_types_pass_one_key_stays_not_valid_and_a_waiver_shows(project, conn):
    conn.execute(SCHEMA)
    (project.root / "wv.yaml").write_text(yaml.safe_dump(CATALOG))
    project.run("config", "set", "fkguard:catalog", "wv.yaml", "--stack", "local")

    preview = project.gated("preview")  # exits 0: integer -> bigint is PostgreSQL's to accept
    assert "[mandatory]  column-types-match" not in preview.stdout
    assert ("fk_wv_users_org: public.wv_users.org_id is integer and public.wv_orgs.id is bigint; allowed: "
            "PostgreSQL compares them with =(bigint,integer)") in preview.stdout
    assert WAIVED in preview.stdout
    assert "fk_wv_notes_user: no index on" not in preview.stdout

    project.gated("up", "--yes")  # NOT VALID first, as safe-pattern asks
    project.run("config", "set", "fkguard:validateTiers", "critical", "--stack", "local")
    deployed = project.gated("up", "--yes")
    assert "stays NOT VALID while tier critical validates: validated: false in the catalog" in deployed.stdout
    state = dict(conn.execute("SELECT conname, convalidated FROM pg_constraint WHERE conname LIKE 'fk_wv_%'").fetchall())
    assert state == {"fk_wv_users_org": True, "fk_wv_notes_user": False}

    status = project.fkguard("status", "-s", "local")
    assert "stays not valid: validated: false in the catalog" in status.stdout
    assert f"fk_wv_notes_user: {WAIVED}" in status.stdout
    rows = {r["constraint"]: r for r in json.loads(project.fkguard("status", "-s", "local", "--json").stdout)}
    assert rows["fk_wv_notes_user"]["waivers"][0]["by"] == "ana" and not rows["fk_wv_notes_user"]["drift"]

    verified = project.fkguard("verify", "-s", "local")  # exits 0: nothing here is wrong
    assert "FAIL" not in verified.stdout
    assert "wv_users.org_id is integer, id is bigint: PostgreSQL compares them" in verified.stdout
    conn.execute("DROP TABLE wv_notes, wv_users, wv_orgs CASCADE")
