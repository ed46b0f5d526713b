"""Partitions made after the rollout, and a partitioned referenced table, through the real CLI.

What a user sees: a partition created with PARTITION OF after validation inherits the foreign key;
one made while the key is still per-leaf NOT VALID (PostgreSQL < 18) has none, which fkguard status
calls drift and `pulumi up --refresh` completes; ATTACH PARTITION of a table holding orphans is
refused by PostgreSQL itself. A key that references a partitioned table goes through the gate,
remediation and validation like any other. Schemas and catalogs are this file's own."""

import json

import psycopg
import pytest
import yaml

from tests.test_e2e_partitions import CATALOG, SCHEMA, state

REFERENCED = """
DROP SCHEMA IF EXISTS e2r CASCADE;
CREATE SCHEMA e2r;
CREATE TABLE e2r.invoice (id int, issued date, total numeric, PRIMARY KEY (id, issued)) PARTITION BY RANGE (issued);
CREATE TABLE e2r.invoice_2024 PARTITION OF e2r.invoice FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE e2r.invoice_2025 PARTITION OF e2r.invoice FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO e2r.invoice SELECT g, date '2024-06-01' + (g % 400), g FROM generate_series(1, 500) g;
CREATE TABLE e2r.payment (id int PRIMARY KEY, invoice_id int, invoice_issued date);
INSERT INTO e2r.payment SELECT g, g, date '2024-06-01' + (g % 400) FROM generate_series(1, 500) g;
INSERT INTO e2r.payment VALUES (9001, 9001, '2024-07-01'), (9002, 12, '2031-01-01');  -- no such invoices
"""
PAYMENTS = {"constraints": [
    {"name": "fk_payment_invoice", "tier": "high", "table": "e2r.payment", "columns": ["invoice_id", "invoice_issued"],
     "references": "e2r.invoice", "referenced_columns": ["id", "issued"], "on_delete": "RESTRICT"},
]}


def status(project) -> tuple[str, bool]:
    [row] = json.loads(project.fkguard("status", "-s", "local", "--json").stdout)
    return row["database"], row["drift"]


def use(project, name: str, catalog: dict) -> None:
    (project.root / name).write_text(yaml.safe_dump(catalog))
    project.run("config", "set", "fkguard:catalog", name, "--stack", "local")


def test_partitions_made_after_the_rollout(project, conn):
    conn.execute(SCHEMA)
    try:
        use(project, "parts.yaml", CATALOG)
        project.gated("up", "--yes")
        if conn.info.server_version < 180000:
            # Per-leaf NOT VALID: the parent holds nothing yet, so a new partition gets nothing.
            conn.execute("CREATE TABLE e2p.orders_2023 PARTITION OF e2p.orders "
                         "FOR VALUES FROM ('2023-01-01') TO ('2024-01-01')")
            assert "e2p.orders_2023" not in state(conn)
            assert status(project) == ("absent", True)  # says so, instead of claiming not valid
            project.gated("up", "--yes", "--refresh")
            assert state(conn)["e2p.orders_2023"] == (False, False)
            assert status(project) == ("not valid", False)

        project.run("config", "set", "fkguard:validateTiers", "critical", "--stack", "local")
        project.gated("up", "--yes")
        conn.execute("CREATE TABLE e2p.orders_2026 PARTITION OF e2p.orders "
                     "FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')")
        assert state(conn)["e2p.orders_2026"] == (True, True)  # inherited from the parent, validated
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="fk_orders_customer"):
            conn.execute("INSERT INTO e2p.orders VALUES (1, 999, '2026-02-01', 'eu')")
        assert status(project) == ("validated", False)

        conn.execute("CREATE TABLE e2p.orders_2027 (LIKE e2p.orders); "
                     "INSERT INTO e2p.orders_2027 VALUES (1, 999, '2027-02-01', 'eu')")
        with pytest.raises(psycopg.errors.ForeignKeyViolation) as refused:
            conn.execute("ALTER TABLE e2p.orders ATTACH PARTITION e2p.orders_2027 "
                         "FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')")
        assert 'violates foreign key constraint "fk_orders_customer"' in str(refused.value)
        assert "e2p.orders_2027" not in state(conn)  # nothing attached, the key still holds
        conn.execute("UPDATE e2p.orders_2027 SET customer_id = 1; ALTER TABLE e2p.orders ATTACH PARTITION "
                     "e2p.orders_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')")
        assert state(conn)["e2p.orders_2027"] == (True, True)
        assert status(project) == ("validated", False)
        project.run("refresh", "--stack", "local", "--yes", "--skip-plugin-pre-install", "--expect-no-changes")
    finally:
        conn.execute("DROP SCHEMA e2p CASCADE")


def test_a_key_referencing_a_partitioned_table_goes_through_gate_remediation_and_validation(project, conn):
    conn.execute(REFERENCED)
    try:
        use(project, "payments.yaml", PAYMENTS)
        audited = json.loads(project.fkguard("audit", "-s", "local", "--json", check=False).stdout)
        assert audited["orphans"] == 2  # across both partitions of the referenced table
        blocked = project.gated("preview", check=False)
        assert blocked.returncode != 0 and "fk_payment_invoice: 2 rows of e2r.payment have no parent" in blocked.stdout

        project.fkguard("remediate", "-s", "local", "--constraint", "fk_payment_invoice", "--action", "delete", "--yes")
        project.gated("up", "--yes")
        project.run("config", "set", "fkguard:validateTiers", "critical,high", "--stack", "local")
        project.gated("up", "--yes")
        assert conn.execute("SELECT convalidated FROM pg_constraint WHERE conname = 'fk_payment_invoice'"
                            ).fetchone() == (True,)
        verified = project.fkguard("verify", "-s", "local")
        assert "fk_payment_invoice: missing parent refused" in verified.stdout and "FAIL" not in verified.stdout
        # RESTRICT, through the partition (PostgreSQL 18 says it as restrict_violation, earlier ones 23503)
        with pytest.raises(psycopg.errors.IntegrityError, match="referenced from table \"payment\""):
            conn.execute("DELETE FROM e2r.invoice WHERE id = 1")
    finally:
        conn.execute("DROP SCHEMA e2r CASCADE")
