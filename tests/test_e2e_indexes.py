"""Supporting indexes through the real CLI: preview shows the CREATE INDEX CONCURRENTLY (and no resource for
a key an index of the schema's own already serves), up builds the index before the foreign key that depends
on it, refresh sees no drift, then an index dropped by hand; fkguard rollback and destroy drop fkguard's index
but not the schema's own.
The schema and catalog are this file's own."""

import json

import yaml

from fkguard import ddl
from fkguard.catalog import QualifiedName

SCHEMA = """
DROP SCHEMA IF EXISTS e2i CASCADE;
CREATE SCHEMA e2i;
CREATE TABLE e2i.account (id int PRIMARY KEY);
INSERT INTO e2i.account SELECT generate_series(1, 50);
CREATE TABLE e2i.invoice (id int PRIMARY KEY, account_id int NOT NULL);
INSERT INTO e2i.invoice SELECT g, 1 + g % 50 FROM generate_series(1, 5000) g;
CREATE TABLE e2i.payment (id int PRIMARY KEY, account_id int);
CREATE INDEX payment_by_account ON e2i.payment (account_id, id);
INSERT INTO e2i.payment SELECT g, 1 + g % 50 FROM generate_series(1, 2000) g;
CREATE TABLE e2i.note (id int PRIMARY KEY, account_id int);
"""
CATALOG = {"constraints": [
    {"name": "fk_invoice_account", "tier": "critical", "table": "e2i.invoice", "columns": ["account_id"],
     "references": "e2i.account", "referenced_columns": ["id"], "on_delete": "RESTRICT"},
    {"name": "fk_payment_account", "tier": "critical", "table": "e2i.payment", "columns": ["account_id"],
     "references": "e2i.account", "referenced_columns": ["id"], "on_delete": "CASCADE", "index": "required"},
    {"name": "fk_note_account", "tier": "critical", "table": "e2i.note", "columns": ["account_id"],
     "references": "e2i.account", "referenced_columns": ["id"], "on_delete": "CASCADE", "index": "none"},
]}
INDEX_TYPE = "pulumi-python:dynamic/fkguard:SupportingIndex"


def indexes(conn) -> dict[str, bool]:
    return dict(conn.execute("SELECT indexrelid::regclass::text, indisvalid FROM pg_index "
                             "WHERE indrelid::regclass::text LIKE 'e2i.%' AND NOT indisprimary"))


def no_drift(project):
    project.run("refresh", "--stack", "local", "--yes", "--skip-plugin-pre-install", "--expect-no-changes")


def test_indexes_are_planned_built_before_their_keys_refreshed_and_dropped_only_when_fkguards(project, conn):
    conn.execute(SCHEMA)
    try:
        bad = {"constraints": [{**CATALOG["constraints"][0], "index": "sometimes"}]}
        (project.root / "e2i.yaml").write_text(yaml.safe_dump(bad))
        project.run("config", "set", "fkguard:catalog", "e2i.yaml", "--stack", "local")
        refused = project.run("preview", "--stack", "local", "--skip-plugin-pre-install", check=False)
        assert refused.returncode != 0
        assert ("e2i.yaml entry 1 (fk_invoice_account): index 'sometimes' is not one of auto, required, none; auto "
                "(the default) builds the index when none leads with the columns") in refused.stdout + refused.stderr
        assert "Traceback" not in refused.stdout + refused.stderr

        (project.root / "e2i.yaml").write_text(yaml.safe_dump(CATALOG))

        preview = json.loads(project.run("preview", "--stack", "local", "--skip-plugin-pre-install", "--json").stdout)
        planned = {s["urn"].rsplit("::", 1)[1]: s["newState"]["inputs"]["plannedSql"] for s in preview["steps"]
                   if s["urn"].split("::")[2] == INDEX_TYPE}
        # not note (index: none), nor payment, whose own index already serves (fkguard never drops it)
        assert sorted(planned) == ["e2i.invoice/invoice_account_id_idx"]
        building = ddl.building_name(QualifiedName("e2i", "invoice"), ("account_id",))
        build, mark, rename = planned["e2i.invoice/invoice_account_id_idx"]
        assert build.startswith(f'CREATE INDEX CONCURRENTLY "{building}" ON "e2i"."invoice" ("account_id");  -- on '
                                "its own, outside any transaction block")
        assert mark.startswith(f'COMMENT ON INDEX "e2i"."{building}" IS \'fkguard: built to support a foreign key')
        assert rename.startswith(f'ALTER INDEX "e2i"."{building}" RENAME TO "invoice_account_id_idx";  -- in the same')

        deployed = project.gated("up", "--yes")
        # fkguard builds or adopts these, so the policy has nothing to say; the key with index: none keeps the advice
        assert "fk_invoice_account: no index on" not in deployed.stdout
        assert "fk_note_account: no index on e2i.note (account_id)" in deployed.stdout
        assert indexes(conn) == {"e2i.invoice_account_id_idx": True, "e2i.payment_by_account": True}
        # built before its key: PostgreSQL hands out object ids in order
        index_oid, key_oid = conn.execute(
            "SELECT 'e2i.invoice_account_id_idx'::regclass::oid::int8, "
            "(SELECT oid::int8 FROM pg_constraint WHERE conname = 'fk_invoice_account')").fetchone()
        assert index_oid < key_oid
        exported = json.loads(project.run("stack", "export", "--stack", "local").stdout)["deployment"]["resources"]
        by_name = {r["urn"].rsplit("::", 1)[1]: r for r in exported}
        built = by_name["e2i.invoice/invoice_account_id_idx"]
        assert built["urn"] in by_name["fk_invoice_account"]["dependencies"] and built["outputs"]["ours"] is True
        assert not any(r["type"] == INDEX_TYPE and r["inputs"]["table"] == "e2i.payment" for r in exported)
        no_drift(project)

        # dropped by hand: refresh says it is gone, up builds it again (before nothing: its key is there already)
        conn.execute("DROP INDEX e2i.invoice_account_id_idx")
        refreshed = project.run("refresh", "--stack", "local", "--yes", "--skip-plugin-pre-install")
        assert "invoice_account_id_idx" in refreshed.stdout and "deleted" in refreshed.stdout
        project.gated("up", "--yes")
        assert indexes(conn) == {"e2i.invoice_account_id_idx": True, "e2i.payment_by_account": True}
        no_drift(project)

        # a stack from before the mark: its index, unmarked, looks like the team's own, so the program no longer
        # registers it; the delete keeps it (its key needs it) and marks it, and the next up takes it back as fkguard's
        conn.execute("COMMENT ON INDEX e2i.invoice_account_id_idx IS NULL")
        project.gated("up", "--yes")
        assert indexes(conn) == {"e2i.invoice_account_id_idx": True, "e2i.payment_by_account": True}
        assert conn.execute("SELECT obj_description('e2i.invoice_account_id_idx'::regclass, 'pg_class')").fetchone()[
            0].startswith("fkguard: built to support a foreign key")
        assert not [r for r in json.loads(project.run("stack", "export", "--stack", "local").stdout)["deployment"][
            "resources"] if r["type"] == INDEX_TYPE]
        project.gated("up", "--yes")
        back, = [r for r in json.loads(project.run("stack", "export", "--stack", "local").stdout)["deployment"][
            "resources"] if r["type"] == INDEX_TYPE]
        assert back["outputs"]["ours"] is True and back["urn"].endswith("::e2i.invoice/invoice_account_id_idx")
        no_drift(project)

        # fkguard rollback takes the keys' indexes with them: it drops the one it built, and not the adopted one
        rolled = project.fkguard("rollback", "-s", "local", "--constraint", "fk_invoice_account", "--constraint",
                                 "fk_payment_account", "--yes")
        assert "with their supporting indexes: e2i.invoice/invoice_account_id_idx" in rolled.stdout
        assert indexes(conn) == {"e2i.payment_by_account": True}
        assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conname LIKE 'fk_%_account'").fetchone()[0] == 1
        project.gated("up", "--yes")
        assert indexes(conn) == {"e2i.invoice_account_id_idx": True, "e2i.payment_by_account": True}

        project.run("destroy", "--stack", "local", "--yes", "--skip-plugin-pre-install")
        assert indexes(conn) == {"e2i.payment_by_account": True}  # the adopted one stays
        assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conname LIKE 'fk_%_account'").fetchone()[0] == 0
    finally:
        conn.execute("DROP SCHEMA e2i CASCADE")
