"""fkguard.monitor against the real test cluster: what each verdict rests on, without the CLI
(tests/test_e2e_monitor.py runs it through pulumi and pg_stat_statements)."""

import pytest

from fkguard import monitor, orphans
from fkguard.catalog import ForeignKey, QualifiedName
from fkguard_testing.fixtures import as_superuser

PARENT, CHILD = QualifiedName("public", "mn_parent"), QualifiedName("public", "mn_child")
FK = ForeignKey(name="fk_mn_child_parent", tier="critical", table=CHILD, columns=("parent_id",), references=PARENT,
                referenced_columns=("id",), on_delete="CASCADE")


@pytest.fixture()
def tables(conn):
    conn.execute("""
        DROP TABLE IF EXISTS mn_child, mn_parent;
        CREATE TABLE mn_parent (id integer PRIMARY KEY);
        CREATE TABLE mn_child (id integer PRIMARY KEY, parent_id integer);
        INSERT INTO mn_parent SELECT g FROM generate_series(1, 50) g;
        INSERT INTO mn_child SELECT g, 1 + g % 40 FROM generate_series(1, 400) g;
        ALTER TABLE mn_child ADD CONSTRAINT fk_mn_child_parent FOREIGN KEY (parent_id) REFERENCES mn_parent (id)
          ON DELETE CASCADE NOT VALID;
    """)
    yield
    conn.execute("DROP TABLE IF EXISTS mn_child, mn_parent")


def flush(conn) -> None:
    """This session's table counters reach the statistics now (PostgreSQL 15+ flushes them lazily)."""
    if conn.info.server_version >= 150000:
        conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT 1")  # a new transaction: a fresh statistics snapshot


def test_without_pg_stat_statements_latency_is_not_guessed(conn, tables):
    conn.execute("DROP EXTENSION IF EXISTS pg_stat_statements")
    taken = monitor.snapshot(conn, [PARENT, CHILD])
    assert taken["source"] == "table statistics" and taken["statements"] == []
    assert set(taken["tables"]) == {"public.mn_parent", "public.mn_child"}
    found = monitor.compare(conn, taken, [FK], "local")
    assert found.verdict == monitor.ACCEPTABLE
    assert [f.what for f in found.findings] == [found.findings[0].what]
    assert found.findings[0].what.startswith("latency not measured: pg_stat_statements is not installed")
    assert found.rollback_command is None


def test_parent_deletes_over_an_unindexed_child_are_named_with_the_index_to_build(conn, tables):
    baseline = monitor.snapshot(conn, [PARENT, CHILD])
    conn.execute("DELETE FROM mn_parent WHERE id > 45")  # five parents without children
    flush(conn)
    found = monitor.compare(conn, baseline, [FK], "local")
    scans = [f for f in found.findings if f.constraints == [FK.name]]
    assert len(scans) == 1 and scans[0].verdict == monitor.INVESTIGATE
    assert scans[0].what.startswith("5 row(s) deleted from or updated in public.mn_parent since the baseline, "
                                    "and no index leads with public.mn_child (parent_id)")
    conn.execute("CREATE INDEX ON mn_child (parent_id)")
    indexed = monitor.compare(conn, baseline, [FK], "local")
    assert not [f for f in indexed.findings if f.constraints]


def test_an_error_rate_up_by_more_than_five_points_calls_for_a_rollback():
    before = {"xact_commit": 9_500, "xact_rollback": 500, "deadlocks": 2}  # 5% of transactions failing before
    assert monitor.database_findings(before, {"xact_commit": 9_600, "xact_rollback": 510, "deadlocks": 2}) == []
    found = monitor.database_findings(before, {"xact_commit": 9_600, "xact_rollback": 600, "deadlocks": 3})
    assert [(f.verdict, f.what) for f in found] == [
        (monitor.ROLLBACK, "transactions rolled back: 50.0% since the baseline against 5.0% before (foreign key "
                           "violations are among the causes: look for SQLSTATE 23503 in the server log)"),
        (monitor.INVESTIGATE, "1 deadlock(s) since the baseline (the server log names the statements)")]
    # Too few transactions since the baseline to say anything about a rate.
    assert monitor.database_findings(before, {"xact_commit": 9_510, "xact_rollback": 520, "deadlocks": 2}) == []


def test_a_rollback_without_a_named_statement_rolls_back_the_tiers(conn, tables):
    baseline = monitor.snapshot(conn, [PARENT, CHILD])
    baseline["database"]["xact_rollback"] = 0  # a history without failures
    for _ in range(200):  # then only failures
        with conn.transaction(force_rollback=True):
            conn.execute("SELECT 1")
    flush(conn)
    found = monitor.compare(conn, baseline, [FK], "staging")
    assert found.verdict == monitor.ROLLBACK, found.findings
    # No statement named the constraint, so the whole tier goes: the plan's rollback is per tier.
    assert found.rollback_command == "fkguard rollback -s staging --tier critical"


def test_statistics_reset_since_the_baseline_compares_nothing(conn, tables):
    baseline = monitor.snapshot(conn, [PARENT, CHILD])
    baseline["statsReset"] = "2020-01-01T00:00:00+00:00"
    found = monitor.compare(conn, baseline, [FK], "local")
    assert found.verdict == monitor.INVESTIGATE and "were reset since the baseline" in found.findings[0].what


def test_fkguards_own_orphan_counts_are_not_the_applications_latency(conn, tables):
    as_superuser("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    try:
        for _ in range(3):  # what the gate runs at every preview
            orphans.count_orphans(conn, FK)
        conn.execute("SELECT count(*) FROM mn_child WHERE parent_id = %s", (1,))  # the application's
        taken = monitor.snapshot(conn, [PARENT, CHILD])
        assert taken["source"] == "pg_stat_statements"
        texts = [s["query"] for s in taken["statements"]]
        assert any(t.startswith("SELECT count(*) FROM mn_child") for t in texts), texts
        assert not [t for t in texts if orphans.OWN_STATEMENT in t], texts
    finally:
        as_superuser("DROP EXTENSION IF EXISTS pg_stat_statements")
