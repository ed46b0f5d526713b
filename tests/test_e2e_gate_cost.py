"""The gate's cost in connections: a gated deployment opens a bounded handful of database sessions,
whatever the catalog's size (on a production database behind TLS, a pooler or a connection limit,
one session per policy per foreign key was thousands per deployment)."""

from fkguard.apms.generate import generate
from fkguard_testing.sessions import sessions_opened

# The policy pack's and the provider's connection per engine thread (4 each at most), the check of the
# pre-change backup's pg_dump, and the program's one query for the indexes that already serve.
BOUND = 10


def test_a_gated_preview_opens_a_bounded_number_of_sessions(project, pg, conn):
    generate(conn, 1000, {}, progress=lambda _: None)
    before = sessions_opened(pg)
    project.gated("preview")
    opened = sessions_opened(pg) - before
    # 16 constraints and every policy of the pack judged each: far fewer sessions than constraints.
    assert 0 < opened <= BOUND, f"a gated preview of 16 constraints opened {opened} sessions"
    print(f"sessions opened by a gated preview of 16 constraints: {opened}")
