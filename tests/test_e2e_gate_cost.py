"""The gate's cost in connections: a gated deployment opens a bounded handful of database sessions,
whatever the catalog's size (on a production database behind TLS, a pooler or a connection limit,
one session per policy per foreign key was thousands per deployment)."""

import time

from fkguard.apms.generate import generate

# The policy pack's pool and the provider's connection per engine thread (4 each at most), and the
# check of the pre-change backup's pg_dump.
BOUND = 10


def sessions_opened(conn) -> int:
    """Sessions ever established to this database (PostgreSQL 14+), once the finished ones are counted."""
    seen, stable_since = -1, time.monotonic()
    while time.monotonic() - stable_since < 1.5:  # a backend reports at exit: wait until the count holds still
        conn.execute("SELECT pg_stat_clear_snapshot()")
        now = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]
        if now != seen:
            seen, stable_since = now, time.monotonic()
        time.sleep(0.2)
    return seen


def test_a_gated_preview_opens_a_bounded_number_of_sessions(project, conn):
    generate(conn, 1000, {}, progress=lambda _: None)
    before = sessions_opened(conn)
    project.gated("preview")
    opened = sessions_opened(conn) - before
    # 16 constraints and every policy of the pack judged each: far fewer sessions than constraints.
    assert 0 < opened <= BOUND, f"a gated preview of 16 constraints opened {opened} sessions"
    print(f"sessions opened by a gated preview of 16 constraints: {opened}")
