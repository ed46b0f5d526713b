"""`fkguard monitor`, the plan's Step 5.6, through the real CLI: the rollout takes a baseline of the
statistics before its first change, and parent deletes afterwards are judged against it.

Two relationships of our own, rolled out together: one whose referencing column has no index
(`index: none`: each delete of a parent scans a million children) and one whose column is indexed. The parents
deleted have no children, so the only cost the foreign key adds is finding that out."""

import json

import yaml
from psycopg import sql

from fkguard_testing.fixtures import as_superuser

SCHEMA = """
DROP TABLE IF EXISTS mo_actions_a, mo_actions_b, mo_stages_a, mo_stages_b;
CREATE TABLE mo_stages_a (id integer PRIMARY KEY);
CREATE TABLE mo_stages_b (id integer PRIMARY KEY);
CREATE TABLE mo_actions_a (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, stage_id integer NOT NULL);
CREATE TABLE mo_actions_b (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, stage_id integer NOT NULL);
INSERT INTO mo_stages_a SELECT g FROM generate_series(1, 1100) g;
INSERT INTO mo_stages_b SELECT g FROM generate_series(1, 1100) g;
INSERT INTO mo_actions_a (stage_id) SELECT 1 + g % 1000 FROM generate_series(1, 1000000) g;
INSERT INTO mo_actions_b (stage_id) SELECT 1 + g % 1000 FROM generate_series(1, 1000000) g;
CREATE INDEX ON mo_actions_b (stage_id);
ANALYZE mo_stages_a, mo_stages_b, mo_actions_a, mo_actions_b;
"""
CATALOG = {"constraints": [
    {"name": "fk_mo_actions_a_stage", "tier": "critical", "table": "public.mo_actions_a", "columns": ["stage_id"],
     "references": "public.mo_stages_a", "referenced_columns": ["id"], "on_delete": "CASCADE", "index": "none",
     "waivers": [{"policy": "referencing-index", "reason": "the monitor test needs the unindexed case", "by": "test"}]},
    {"name": "fk_mo_actions_b_stage", "tier": "critical", "table": "public.mo_actions_b", "columns": ["stage_id"],
     "references": "public.mo_stages_b", "referenced_columns": ["id"], "on_delete": "CASCADE"},
]}


def delete_childless_parents(conn, first: int) -> None:
    """Thirty parents without children deleted from each side, one statement shape per side (one queryid):
    enough calls that one slow call on a busy machine does not move the mean by milliseconds."""
    for table in ("mo_stages_a", "mo_stages_b"):
        for stage in range(first, first + 30):
            conn.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(sql.Identifier(table)), (stage,))


def test_monitor_flags_parent_deletes_that_scan_an_unindexed_child_and_not_the_indexed_one(project, conn):
    conn.execute(SCHEMA)
    as_superuser("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    try:
        (project.root / "mo.yaml").write_text(yaml.safe_dump(CATALOG))
        project.run("config", "set", "fkguard:catalog", "mo.yaml", "--stack", "local")
        missing = project.fkguard("monitor", "-s", "local", check=False)
        assert missing.returncode == 2 and "has no monitoring baseline" in missing.stderr

        delete_childless_parents(conn, 1001)  # the history the baseline holds: no foreign key yet
        deployed = project.gated("up", "--yes")
        assert "monitor-baseline" in deployed.stdout
        state = dict(conn.execute("SELECT conname, convalidated FROM pg_constraint WHERE conname LIKE 'fk_mo_%'").fetchall())
        assert state == {"fk_mo_actions_a_stage": False, "fk_mo_actions_b_stage": False}  # NOT VALID triggers fire

        delete_childless_parents(conn, 1041)
        judged = project.fkguard("monitor", "-s", "local", "--json", check=False)
        assert judged.returncode == 3, judged.stdout + judged.stderr
        report = json.loads(judged.stdout)
        assert report["source"] == "pg_stat_statements" and report["verdict"] == "rollback"
        slow = [f for f in report["findings"] if f["verdict"] == "rollback"]
        assert [f["constraints"] for f in slow] == [["fk_mo_actions_a_stage"]], report["findings"]
        assert "mo_stages_a" in slow[0]["what"]
        scans = [f for f in report["findings"] if "no index leads with public.mo_actions_a (stage_id)" in f["what"]]
        assert scans and scans[0]["constraints"] == ["fk_mo_actions_a_stage"]
        # The indexed side is judged too, and passes: its statement is compared and not flagged.
        compared = {side: r for r in report["statements"] for side in ("mo_stages_a", "mo_stages_b")
                    if r["query"].startswith("DELETE FROM ") and f'"{side}"' in r["query"]}
        assert compared["mo_stages_b"]["delta_ms"] < 10 < compared["mo_stages_a"]["delta_ms"], report["statements"]
        assert not [f for f in report["findings"] if "mo_actions_b" in f["what"] or "mo_stages_b" in f["what"]]
        assert report["rollbackCommand"] == "fkguard rollback -s local --constraint fk_mo_actions_a_stage"

        shown = project.fkguard("monitor", "-s", "local", check=False)
        assert "verdict: rollback" in shown.stdout
        assert "roll back with: fkguard rollback -s local --constraint fk_mo_actions_a_stage" in shown.stdout
    finally:
        as_superuser("DROP EXTENSION IF EXISTS pg_stat_statements")
        conn.execute("DROP TABLE IF EXISTS mo_actions_a, mo_actions_b, mo_stages_a, mo_stages_b")
