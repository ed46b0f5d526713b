"""The audit's scheduling: the biggest scans start first so that the jobs overlap, and the findings
still come back in catalog order with each relationship's own count."""

import pytest
from psycopg import sql

from fkguard import audit
from fkguard.catalog import ForeignKey, QualifiedName

TABLES = {"aud_small": 10, "aud_big": 50_000, "aud_mid": 2_000}


@pytest.fixture()
def tables(conn):
    conn.execute("DROP TABLE IF EXISTS aud_small, aud_big, aud_mid, aud_parent")
    conn.execute("CREATE TABLE aud_parent (id int PRIMARY KEY)")
    conn.execute("INSERT INTO aud_parent SELECT generate_series(1, 100)")
    for orphans, (name, rows) in enumerate(TABLES.items(), start=1):
        table = sql.Identifier(name)
        conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, parent_id int)").format(table))
        # `orphans` rows point past the parent's last id, so each relationship has its own count.
        conn.execute(sql.SQL("INSERT INTO {} SELECT g, CASE WHEN g <= %s THEN 1000 + g ELSE 1 + g %% 100 END "
                             "FROM generate_series(1, %s) g").format(table), (orphans, rows))
    yield conn
    conn.execute("DROP TABLE IF EXISTS aud_small, aud_big, aud_mid, aud_parent")


def fk(table: str) -> ForeignKey:
    return ForeignKey(f"fk_{table}", "low", QualifiedName("public", table), ("parent_id",),
                      QualifiedName("public", "aud_parent"), ("id",), "RESTRICT")


def test_largest_scans_come_first(tables):
    catalog = [fk(name) for name in TABLES]
    assert [f.name for f in audit.largest_first(tables, catalog)] == [
        "fk_aud_big", "fk_aud_mid", "fk_aud_small"]


def test_missing_tables_sort_last_without_failing(tables):
    ghost = ForeignKey("fk_ghost", "low", QualifiedName("public", "aud_ghost"), ("parent_id",),
                       QualifiedName("public", "aud_parent"), ("id",), "RESTRICT")
    assert audit.largest_first(tables, [ghost, fk("aud_big")])[-1].name == "fk_ghost"


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_findings_in_catalog_order_with_their_own_counts(tables, pg, jobs):
    catalog = [fk(name) for name in TABLES]
    findings = audit.audit(pg.connect, catalog, sample_size=2, jobs=jobs)
    assert [f.fk.name for f in findings] == ["fk_aud_small", "fk_aud_big", "fk_aud_mid"]
    assert [f.orphans for f in findings] == [1, 2, 3]
    assert [len(f.sample) for f in findings] == [1, 2, 2]
