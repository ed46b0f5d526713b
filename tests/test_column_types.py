"""fkguard.column_types agrees with PostgreSQL: what it calls refused, ALTER TABLE refuses; what it
accepts, ALTER TABLE accepts; and only 'casts' keeps a parent delete's lookup off the referencing index."""

from pathlib import Path

import pytest
from psycopg import errors

from fkguard import column_types
from fkguard.catalog import ForeignKey, QualifiedName

FK = ForeignKey("fk_t_child_parent", "low", QualifiedName("public", "t_child"), ("parent_id",),
                QualifiedName("public", "t_parent"), ("id",), "RESTRICT")


@pytest.mark.parametrize("child, parent, verdict, value", [
    ("text", "text", column_types.SAME, "1"),
    ("varchar(64)", "varchar(128)", column_types.ALIGNED, "1"),
    ("integer", "bigint", column_types.COMPATIBLE, "1"),
    ("bigint", "integer", column_types.COMPATIBLE, "1"),
    ("smallint", "integer", column_types.COMPATIBLE, "1"),
    ("varchar(64)", "text", column_types.COMPATIBLE, "1"),
    ("text", "varchar(64)", column_types.COMPATIBLE, "1"),
    ("t_code", "text", column_types.ALIGNED, "1"),  # a domain over text is text to PostgreSQL
    ("date", "timestamp", column_types.COMPATIBLE, "2026-11-29"),
    ("integer", "numeric", column_types.CASTS, "1"),
    ("uuid", "text", column_types.REFUSED, None),
    ("text", "integer", column_types.REFUSED, None),
    ("numeric", "integer", column_types.REFUSED, None),
])
def test_the_verdict_is_postgresqls(conn, child, parent, verdict, value):
    conn.execute("DROP TABLE IF EXISTS t_child, t_parent; DROP DOMAIN IF EXISTS t_code; CREATE DOMAIN t_code AS text")
    conn.execute(f"CREATE TABLE t_parent (id {parent} PRIMARY KEY); "
                 f"CREATE TABLE t_child (id int PRIMARY KEY, parent_id {child}); "
                 "CREATE INDEX t_child_parent_id_idx ON t_child (parent_id)")
    [pair] = column_types.pairings(conn, FK)
    assert pair.verdict == verdict, pair.reason
    with conn.transaction(force_rollback=True):
        try:
            with conn.transaction():
                conn.execute("ALTER TABLE t_child ADD CONSTRAINT fk_t_child_parent FOREIGN KEY (parent_id) "
                             "REFERENCES t_parent (id)")
        except errors.DatatypeMismatch:
            assert verdict == column_types.REFUSED
            return
        assert verdict != column_types.REFUSED
        # A parent delete looks for children; the referencing index serves it unless every check casts.
        conn.execute("INSERT INTO t_parent (id) VALUES (%s)", (value,))
        conn.execute("SET LOCAL enable_seqscan = off")
        conn.execute("DELETE FROM t_parent")
        scans = conn.execute("SELECT idx_scan FROM pg_stat_xact_user_tables WHERE relname = 't_child'").fetchone()[0]
        assert (scans > 0) == (verdict != column_types.CASTS)


@pytest.mark.parametrize("child, parent, passes", [("varchar(64)", "varchar(128)", True), ("integer", "numeric", False)])
def test_verify_and_the_column_types_match_policy_judge_alike(conn, pg, monkeypatch, child, parent, passes):
    """Both read fkguard.column_types: varchar(64) against varchar(128) passes both, integer against numeric fails both."""
    from types import SimpleNamespace

    from fkguard import verify
    from fkguard.stack.options import Options

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "policies"))
    import context
    from column_types_match import check

    context.forget()  # a call of its own: an earlier test on this thread may have left its resource's facts

    conn.execute("DROP TABLE IF EXISTS t_child, t_parent")
    conn.execute(f"CREATE TABLE t_parent (id {parent} PRIMARY KEY); CREATE TABLE t_child (id int PRIMARY KEY, "
                 f"parent_id {child})")
    _, checks = verify.counts(conn, [FK], Options())
    types = [c for c in checks if c.name == f"{FK.name}: types"]
    assert types and all(c.ok for c in types) is passes, types
    assert (check(FK, {}, SimpleNamespace(connect=pg.connect), {}) == []) is passes
