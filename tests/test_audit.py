"""The audit's passes: relationships that reference the same key are counted in one pass, the
biggest passes start first so that the jobs overlap, and the findings still come back in catalog
order with each relationship's own count and sample."""

import pytest
from psycopg import sql

from fkguard import audit
from fkguard.catalog import ForeignKey, QualifiedName

# table: (rows, orphans, type of parent_id); all reference aud_parent (id int)
TABLES = {"aud_small": (10, 1, "int"), "aud_big": (50_000, 2, "int"), "aud_mid": (2_000, 3, "int"),
          "aud_wide": (20_000, 4, "bigint")}


@pytest.fixture()
def tables(conn):
    conn.execute("DROP TABLE IF EXISTS aud_small, aud_big, aud_mid, aud_wide, aud_parent, aud_other, aud_solo")
    conn.execute("CREATE TABLE aud_parent (id int PRIMARY KEY)")
    conn.execute("INSERT INTO aud_parent SELECT generate_series(1, 100)")
    for name, (rows, orphans, kind) in TABLES.items():
        table = sql.Identifier(name)
        conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, parent_id {})").format(table, sql.SQL(kind)))
        # `orphans` rows point past the parent's last id, so each relationship has its own count.
        conn.execute(sql.SQL("INSERT INTO {} SELECT g, CASE WHEN g <= %s THEN 1000 + g ELSE 1 + g %% 100 END "
                             "FROM generate_series(1, %s) g").format(table), (orphans, rows))
    conn.execute("CREATE TABLE aud_other (id text PRIMARY KEY)")
    conn.execute("CREATE TABLE aud_solo (id int PRIMARY KEY, other_id text)")
    conn.execute("INSERT INTO aud_solo VALUES (1, 'nobody')")
    yield conn
    conn.execute("DROP TABLE IF EXISTS aud_small, aud_big, aud_mid, aud_wide, aud_parent, aud_other, aud_solo")


def fk(table: str, references: str = "aud_parent", column: str = "parent_id") -> ForeignKey:
    return ForeignKey(f"fk_{table}", "low", QualifiedName("public", table), (column,),
                      QualifiedName("public", references), ("id",), "RESTRICT")


CATALOG = [fk("aud_solo", "aud_other", "other_id"), *(fk(name) for name in TABLES)]


def test_one_pass_per_shared_key_largest_first(tables):
    plan = [[f.name for f in p] for p in audit.scan_plan(tables, CATALOG)]
    # The three int keys share a pass; the bigint one has its own (another type, another equality).
    assert plan == [["fk_aud_small", "fk_aud_big", "fk_aud_mid"], ["fk_aud_wide"], ["fk_aud_solo"]]


def test_missing_tables_get_a_pass_of_their_own_without_failing(tables):
    ghost = fk("aud_ghost")
    plan = audit.scan_plan(tables, [ghost, fk("aud_big"), fk("aud_mid", "aud_nowhere")])
    assert sorted(len(p) for p in plan) == [1, 1, 1]


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_findings_in_catalog_order_with_their_own_counts(tables, pg, jobs):
    findings = audit.audit(pg, CATALOG, sample_size=2, jobs=jobs)
    assert [f.fk.name for f in findings] == [f.name for f in CATALOG]
    assert [f.orphans for f in findings] == [1, 1, 2, 3, 4]
    assert [len(f.sample) for f in findings] == [1, 1, 2, 2, 2]
    assert findings[2].sample[0]["parent_id"] == 1001
    assert findings[1].note == "counted in one pass with fk_aud_big, fk_aud_mid"
