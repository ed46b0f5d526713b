"""A partitioned referencing table through the real CLI on PostgreSQL 15: preview plans each partition,
up adds NOT VALID on each leaf, validating the tier attaches the parent's constraint, rollback drops all
of it, and refresh sees no drift after each step. The schema and catalog are this file's own."""

import json

import yaml
from psycopg import sql

from tests import shapes

SCHEMA = sql.Composed([sql.SQL("""
DROP SCHEMA IF EXISTS e2p CASCADE;
CREATE SCHEMA e2p;
CREATE TABLE e2p.customer (id int PRIMARY KEY);
INSERT INTO e2p.customer SELECT generate_series(1, 100);
"""), shapes.two_level_partitioned("e2p", "orders", "customer_id", "placed")])
CATALOG = {"constraints": [
    {"name": "fk_orders_customer", "tier": "critical", "table": "e2p.orders", "columns": ["customer_id"],
     "references": "e2p.customer", "referenced_columns": ["id"], "on_delete": "RESTRICT"},
]}
LEAVES = ["e2p.orders_2024", "e2p.orders_2025_eu", "e2p.orders_2025_us"]


def state(conn) -> dict[str, tuple[bool, bool]]:
    """table -> (validated, attached to the parent's) for fk_orders_customer."""
    return {t: (v, p) for t, v, p in conn.execute(
        "SELECT conrelid::regclass::text, convalidated, conparentid <> 0 FROM pg_constraint "
        "WHERE conname = 'fk_orders_customer'")}


def no_drift(project):
    project.run("refresh", "--stack", "local", "--yes", "--skip-plugin-pre-install", "--expect-no-changes")


def test_partitioned_table_rolls_out_per_partition_and_back(project, conn):
    conn.execute(SCHEMA)
    try:
        (project.root / "parts.yaml").write_text(yaml.safe_dump(CATALOG))
        project.run("config", "set", "fkguard:catalog", "parts.yaml", "--stack", "local")

        preview = json.loads(project.run("preview", "--stack", "local", "--skip-plugin-pre-install", "--json").stdout)
        planned, = [s["newState"]["inputs"]["plannedSql"] for s in preview["steps"]
                    if s["urn"].endswith("::fk_orders_customer")]
        index_plan, = [s["newState"]["inputs"]["plannedSql"] for s in preview["steps"]
                       if s["urn"].endswith("::e2p.orders/orders_customer_id_idx")]
        assert [p.split(";  --")[0] for p in index_plan][-4:-1] == [
            'CREATE INDEX "orders_customer_id_idx" ON ONLY "e2p"."orders" ("customer_id")',
            'ALTER INDEX "e2p"."orders_customer_id_idx" ATTACH PARTITION "e2p"."orders_2024_customer_id_idx"',
            'ALTER INDEX "e2p"."orders_customer_id_idx" ATTACH PARTITION "e2p"."orders_2025_customer_id_idx"']
        assert [p.split("ADD CONSTRAINT")[0] for p in planned] == [
            f'ALTER TABLE "e2p"."{leaf.split(".")[1]}" ' for leaf in LEAVES]
        for leaf, plan in zip(LEAVES, planned, strict=True):
            assert plan.endswith(f"NOT VALID;  -- partition of e2p.orders: SHARE ROW EXCLUSIVE on {leaf} and e2p.customer, "
                                 f"held for milliseconds: no scan")
        assert state(conn) == {}

        added = project.gated("up", "--yes")
        assert state(conn) == {leaf: (False, False) for leaf in LEAVES}
        # the index, built the way a partitioned table allows (CONCURRENTLY is refused on the parent): no advice left
        assert "no index on e2p.orders" not in added.stdout
        assert dict(conn.execute("SELECT indexrelid::regclass::text, indisvalid FROM pg_index WHERE indrelid::regclass"
                                 "::text LIKE 'e2p.orders%'")) == {
            "e2p.orders_customer_id_idx": True, "e2p.orders_2024_customer_id_idx": True,
            "e2p.orders_2025_customer_id_idx": True, "e2p.orders_2025_eu_customer_id_idx": True,
            "e2p.orders_2025_us_customer_id_idx": True}
        no_drift(project)
        rows = json.loads(project.fkguard("status", "-s", "local", "--json").stdout)
        assert [(r["database"], r["drift"]) for r in rows] == [("not valid", False)]

        project.run("config", "set", "fkguard:validateTiers", "critical", "--stack", "local")
        validated = project.gated("up", "--yes")
        assert "would be added and validated in the same deployment" not in validated.stdout
        assert state(conn) == {"e2p.orders": (True, False), "e2p.orders_2025": (True, True),
                               **{leaf: (True, True) for leaf in LEAVES}}
        no_drift(project)

        project.fkguard("rollback", "-s", "local", "--constraint", "fk_orders_customer", "--yes")
        assert state(conn) == {}
        no_drift(project)
    finally:
        conn.execute("DROP SCHEMA e2p CASCADE")
