"""The orphan count uses PostgreSQL's validation predicate: wherever the audit finds N orphans,
VALIDATE fails, and wherever it finds none, VALIDATE succeeds (MATCH SIMPLE and FULL, NULLs)."""

import psycopg
import pytest

from fkguard import orphans
from fkguard.catalog import ForeignKey, QualifiedName

ROWS = [  # (a, b): the parent holds (1, 1) only
    (1, 1),        # has a parent
    (None, None),  # all NULL: exempt under SIMPLE and FULL
    (1, None),     # partly NULL: exempt under SIMPLE, an orphan under FULL
    (None, 9),     # partly NULL: exempt under SIMPLE, an orphan under FULL
    (2, 2),        # no parent: an orphan under both
]


@pytest.fixture()
def pair(conn):
    conn.execute("DROP TABLE IF EXISTS orph_child, orph_parent")
    conn.execute("CREATE TABLE orph_parent (a int, b int, PRIMARY KEY (a, b))")
    conn.execute("INSERT INTO orph_parent VALUES (1, 1)")
    conn.execute("CREATE TABLE orph_child (id serial PRIMARY KEY, a int, b int)")
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO orph_child (a, b) VALUES (%s, %s)", ROWS)
    yield conn
    conn.execute("DROP TABLE IF EXISTS orph_child, orph_parent")


def key(match):
    return ForeignKey(f"fk_orph_{match.lower()}", "low", QualifiedName("public", "orph_child"), ("a", "b"),
                      QualifiedName("public", "orph_parent"), ("a", "b"), "RESTRICT", match=match)


def validate_fails(conn, fk) -> bool:
    full = " MATCH FULL" if fk.match == "FULL" else ""
    conn.execute(f"ALTER TABLE orph_child ADD CONSTRAINT {fk.name} FOREIGN KEY (a, b) REFERENCES orph_parent (a, b)"
                 f"{full} NOT VALID")
    try:
        conn.execute(f"ALTER TABLE orph_child VALIDATE CONSTRAINT {fk.name}")
        return False
    except psycopg.errors.ForeignKeyViolation:
        return True
    finally:
        conn.execute(f"ALTER TABLE orph_child DROP CONSTRAINT {fk.name}")


@pytest.mark.parametrize("match, expected", [("SIMPLE", 1), ("FULL", 3)])
def test_count_follows_match_rules_and_agrees_with_validate(pair, match, expected):
    fk = key(match)
    assert orphans.count_orphans(pair, fk) == expected
    assert validate_fails(pair, fk) is True
    pair.execute("DELETE FROM orph_child WHERE (a, b) IS DISTINCT FROM (1, 1) AND (a IS NOT NULL OR b IS NOT NULL)")
    assert orphans.count_orphans(pair, fk) == 0
    assert validate_fails(pair, fk) is False


def test_samples_and_streams_the_same_rows(pair):
    fk = key("FULL")
    assert sorted(orphans.sample_orphan_keys(pair, fk, 10), key=str) == sorted([(1, None), (None, 9), (2, 2)], key=str)
    streamed = list(orphans.stream_orphans(pair, fk, ("id",), batch=1))
    assert len(streamed) == 3 and all(len(row) == 3 for row in streamed)
    assert orphans.describe_keys(fk, [(2, 2)]) == "(a=2, b=2)"


def test_counted_together_each_keeps_its_own_match_rule(pair):
    assert orphans.count_orphans_together(pair, [key("SIMPLE"), key("FULL"), key("SIMPLE")]) == [1, 3, 1]


def test_sample_keys_are_distinct_and_printed_as_sql_you_can_paste(conn):
    conn.execute("DROP TABLE IF EXISTS lit_child, lit_parent")
    conn.execute("CREATE TABLE lit_parent (org uuid, code text, PRIMARY KEY (org, code))")
    conn.execute("CREATE TABLE lit_child (id serial PRIMARY KEY, org uuid, code text)")
    conn.execute("INSERT INTO lit_child (org, code) SELECT '20f5a3c4-0000-4000-8000-000000000001', 'it''s' "
                 "FROM generate_series(1, 3)")
    fk = ForeignKey("fk_lit", "low", QualifiedName("public", "lit_child"), ("org", "code"),
                    QualifiedName("public", "lit_parent"), ("org", "code"), "RESTRICT")
    keys = orphans.sample_orphan_keys(conn, fk, 5)
    assert len(keys) == 1  # three rows, one missing parent
    shown = orphans.describe_keys(fk, keys)
    assert shown == "(org='20f5a3c4-0000-4000-8000-000000000001'::uuid, code='it''s')"
    assert conn.execute(f"SELECT count(*) FROM lit_child WHERE {shown[1:-1].replace(', ', ' AND ')}"  # noqa: S608
                        ).fetchone()[0] == 3
    conn.execute("DROP TABLE lit_child, lit_parent")


def test_the_count_runs_under_validates_memory_settings_and_they_end_with_it(pair):
    """RI_Initial_Check's settings hold while the count runs (the child's rows are visible only under them, by a row
    security policy) and not a statement longer: autocommit (one message) or inside the caller's transaction."""
    conn = pair
    conn.execute("ALTER TABLE orph_child ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY; "
                 "CREATE POLICY as_validate ON orph_child USING (current_setting('work_mem') = "
                 "current_setting('maintenance_work_mem') AND current_setting('hash_mem_multiplier')::float = 1)")
    session = conn.execute("SELECT current_setting('work_mem'), current_setting('hash_mem_multiplier')").fetchone()
    assert conn.execute("SELECT count(*) FROM orph_child").fetchone()[0] == 0  # hidden under the session's settings
    assert orphans.count_orphans(conn, key("SIMPLE")) == 1
    with conn.transaction():
        assert orphans.count_orphans(conn, key("FULL")) == 3
    assert conn.execute("SELECT current_setting('work_mem'), current_setting('hash_mem_multiplier')").fetchone() == session
