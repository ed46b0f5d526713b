"""The APMS schema and its data generator, against the real test cluster."""

import pytest

from fkguard.apms.generate import TABLES, ScaleError, generate, reset_schema, row_counts
from fkguard.catalog import load_catalog

PLAN_TABLES = {
    "workspaces", "config_versions", "workflow_instances", "workflow_stages", "workflow_stage_actions",
    "atp_submissions", "atp_submission_documents", "punchlists", "punchlist_items", "atp_scope_master",
    "vendor_master", "approval_role_master", "approval_policy_master", "approval_policy_stages", "cluster_master",
    "cluster_approver_master", "approver_overrides",
}


def count(conn, query, *params):
    return conn.execute(query, params).fetchone()[0]


def orphans(conn, fk):
    # Written out by hand on purpose: an independent check of what the generator planted.
    col, ref = fk.columns[0], fk.referenced_columns[0]
    return count(conn, f"SELECT count(*) FROM {fk.table} c LEFT JOIN {fk.references} p ON c.{col} = p.{ref} "  # noqa: S608
                       f"WHERE p.{ref} IS NULL AND c.{col} IS NOT NULL")


def test_schema_has_the_17_tables_keys_and_checks_but_no_foreign_keys(conn):
    reset_schema(conn)
    tables = {r[0] for r in conn.execute(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace")}
    assert tables == PLAN_TABLES == {t.name for t in TABLES}
    contypes = dict(conn.execute(
        "SELECT contype, count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace GROUP BY contype"))
    assert contypes.get("p") == 17
    assert contypes.get("c") == 21
    assert "f" not in contypes
    id_types = set(conn.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'id'"))
    assert id_types == {("text",)}


def test_every_catalog_key_column_matches_its_referenced_type(conn):
    reset_schema(conn)
    for fk in load_catalog():
        types = [count(conn, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                             "WHERE attrelid = %s::regclass AND attname = %s", str(t), c)
                 for t, c in ((fk.table, fk.columns[0]), (fk.references, fk.referenced_columns[0]))]
        assert types == ["text", "text"], fk.name


def test_generator_fills_every_table_at_scale_and_plants_exact_orphans(conn):
    catalog = load_catalog()
    planted = {fk: i % 4 for i, fk in enumerate(catalog)}  # 0..3, so "none" is covered too
    counts = generate(conn, 2000, planted, progress=lambda _: None)
    expected = row_counts(2000)
    for fk, n in planted.items():
        expected[fk.table.name] += n
    assert counts == expected
    for table, n in expected.items():
        assert count(conn, f"SELECT count(*) FROM {table}") == n, table  # noqa: S608
    for fk, n in planted.items():
        assert orphans(conn, fk) == n, fk.name
    # Shared vendors and global policies: NULL keys, which a foreign key exempts.
    assert count(conn, "SELECT count(*) FROM vendor_master WHERE workspace_id IS NULL") > 0
    assert count(conn, "SELECT count(*) FROM approval_policy_master WHERE workspace_id IS NULL") > 0
    assert count(conn, "SELECT count(*) FROM workflow_stage_actions") == 2000 + planted[catalog[-1]]


def test_generated_data_passes_every_check_and_the_plans_example_query(conn):
    generate(conn, 1000, {}, progress=lambda _: None)
    assert count(conn, "SELECT count(*) FROM workflow_instances wi JOIN workspaces ws ON ws.id = wi.workspace_id "
                       "JOIN config_versions cv ON cv.id = wi.config_version_id "
                       "WHERE ws.code = 'XLSMART-AVIAT' AND cv.status = 'ACTIVE' AND cv.workspace_id = ws.id") > 0


def test_too_small_a_scale_is_refused():
    with pytest.raises(ScaleError, match="scale 10 is too small: use at least 100"):
        row_counts(10)
