"""fkguard's connections through the real PgBouncer in transaction mode (fkguard_testing.pgbouncer): how fkguard
knows it is behind a pooler, that what it runs in a transaction passes and leaves nothing on the pool's server
connections, that a session-level step is refused there in one line and runs on the direct address instead, and
that psycopg never prepares a statement the next server connection lacks. The end-to-end rollout through the
pooler is tests/test_e2e_pgbouncer.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from fkguard import ddl
from fkguard.catalog import QualifiedName
from fkguard.errors import SettingsError
from fkguard.indexes import Wanted
from fkguard.locks import LockPolicy, run_locked, run_outside_transaction
from fkguard.operations import BuildIndex
from fkguard.stack import connections, pooler
from fkguard.stack.config import StackConfig
from fkguard_testing import pgbouncer as bouncer
from fkguard_testing.pgbouncer import POOL_SIZE, Pooler, every_server_connection

pgbouncer = bouncer.pgbouncer  # the fixture, for this module
TABLE = QualifiedName("public", "bounced_child")
POLICY = LockPolicy(lock_timeout_ms=2345, budget_ms=5000, statement_timeout_ms=654321)


@pytest.fixture()
def child(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    conn.execute("DROP TABLE IF EXISTS bounced_child; CREATE TABLE bounced_child (id int PRIMARY KEY, p_id int); "
                 "INSERT INTO bounced_child SELECT g, g % 10 FROM generate_series(1, 500) g")
    yield conn
    # Its index carries fkguard's mark: left in the worker's database, other tests would count it as theirs.
    conn.execute("DROP TABLE IF EXISTS bounced_child")


def baseline(pgbouncer: Pooler, database: str) -> dict[str, str]:
    """What every server connection of the pool shows, checked to be one value per setting."""
    seen = list(every_server_connection(pgbouncer, database).values())
    assert all(s == seen[0] for s in seen), seen
    return seen[0]


def test_a_pooler_is_told_from_a_direct_connection(pg, pgbouncer):
    with pg.connect() as direct, pgbouncer.settings.connect() as pooled:
        assert not pooler.pooled(direct) and pooler.holds_session(direct)
        assert pooler.pooled(pooled) and not pooler.holds_session(pooled)
        # The check does not depend on which server connection the pool lends: still a pooler after more work.
        for _ in range(3):
            pooled.execute("SELECT 1")
        assert pooler.pooled(pooled)


def test_a_session_setting_through_the_pooler_reaches_another_client(pgbouncer):
    """The control: what the other tests prove absent can be seen. A SET outside a transaction, through this
    pooler, stays on the server connection for the next client (here on the `postgres` database's pool, which
    nothing else uses)."""
    before = baseline(pgbouncer, "postgres")
    with pgbouncer.to("postgres").connect() as careless:
        careless.execute("SET lock_timeout = '4321ms'")
        seen = every_server_connection(pgbouncer, "postgres")
        assert "4321ms" in {s["lock_timeout"] for s in seen.values()}, seen
        careless.execute("RESET lock_timeout")
    clients = [pgbouncer.to("postgres").connect() for _ in range(POOL_SIZE)]
    try:  # put the pool back as it was: RESET on every server connection, each held by a transaction
        for client in clients:
            client.execute("BEGIN; RESET ALL")
        for client in clients:
            client.execute("COMMIT")
    finally:
        for client in clients:
            client.close()
    assert baseline(pgbouncer, "postgres") == before


def test_locked_ddl_through_the_pooler_leaves_nothing_on_the_pool(pgbouncer, child, pg):
    before = baseline(pgbouncer, pg.database)
    with pgbouncer.settings.connect() as pooled:
        statement = sql.SQL("COMMENT ON TABLE bounced_child IS 'through the pooler'")
        assert run_locked(pooled, [statement], [TABLE], POLICY, what="commenting") == 1
    assert child.execute("SELECT obj_description('bounced_child'::regclass)").fetchone() == ("through the pooler",)
    assert baseline(pgbouncer, pg.database) == before
    assert before["lock_timeout"] != "2345ms" and before["statement_timeout"] != "654321ms"


def test_a_concurrent_build_through_the_pooler_is_refused_in_one_line_and_sets_nothing(pgbouncer, child, pg):
    before = baseline(pgbouncer, pg.database)
    statement = sql.SQL("CREATE INDEX CONCURRENTLY bounced_child_p_id_idx ON bounced_child (p_id)")
    with pgbouncer.settings.connect() as pooled, pytest.raises(SettingsError) as refused:
        run_outside_transaction(pooled, statement, [TABLE], POLICY, what="building bounced_child_p_id_idx",
                                statement_timeout_ms=654321, give_up=lambda n, h: AssertionError(n))
    message = str(refused.value)
    assert "\n" not in message and message.startswith("building bounced_child_p_id_idx needs a session of its own")
    assert f"127.0.0.1:{bouncer.PORT} (postgresql:host, postgresql:port) is a connection pooler" in message
    assert "set fkguard:directHost and fkguard:directPort to the database's own address" in message
    assert child.execute("SELECT to_regclass('bounced_child_p_id_idx')").fetchone() == (None,)
    assert baseline(pgbouncer, pg.database) == before


def test_the_direct_address_builds_the_index_and_the_pool_keeps_its_settings(pgbouncer, child, pg):
    config = StackConfig({"postgresql:host": "127.0.0.1", "postgresql:port": str(bouncer.PORT),
                          "postgresql:database": pg.database, "postgresql:username": pg.username,
                          "postgresql:password": pg.password, "postgresql:sslmode": "disable",
                          "fkguard:directPort": str(pg.port)})
    direct = config.direct_connection
    assert direct == dataclasses.replace(config.connection, port=pg.port)
    before = baseline(pgbouncer, pg.database)
    with config.connection.connect() as pooled:
        with pytest.raises(SettingsError, match="needs a session of its own"):
            pooler.session_connection(pooled, None, "building bounced_child_p_id_idx")
        session = pooler.session_connection(pooled, direct, "building bounced_child_p_id_idx")
        assert session is not pooled and not pooler.pooled(session)
        outcome = BuildIndex(Wanted(TABLE, ("p_id",)), POLICY).run(session)
    assert outcome.ours and outcome.valid
    building = ddl.building_name(TABLE, ("p_id",))
    assert outcome.sql[0].startswith(f'CREATE INDEX CONCURRENTLY "{building}"'), outcome.sql
    assert outcome.sql[-1].endswith('RENAME TO "bounced_child_p_id_idx"') and outcome.name == "bounced_child_p_id_idx"
    assert baseline(pgbouncer, pg.database) == before


def test_a_direct_address_that_reaches_another_database_is_refused(pgbouncer, pg):
    with pgbouncer.settings.connect() as pooled, pytest.raises(SettingsError) as refused:
        pooler.session_connection(pooled, dataclasses.replace(pg, database="postgres"), "building an index")
    message = str(refused.value)
    assert "\n" not in message and message.startswith(
        f"fkguard:directHost and fkguard:directPort (127.0.0.1:{pg.port}) reach postgres (cluster ")
    assert f"but the stack's postgresql:* settings reach {pg.database} (cluster" in message


def test_no_prepared_statement_is_missing_on_the_next_server_connection(pgbouncer):
    """psycopg's default (prepare after 5 executions) fails as soon as another client takes the server connection
    the statement was prepared on; fkguard's connections never prepare."""
    outcomes = {}
    for label, kwargs in (("psycopg's default", {**pgbouncer.settings.connect_kwargs(), "prepare_threshold": 5}),
                          ("fkguard's", pgbouncer.settings.connect_kwargs())):
        with psycopg.connect(**kwargs) as ours, psycopg.connect(**kwargs) as other:
            try:
                for n in range(7):
                    ours.execute("SELECT %s::int + 1", (n,))
                with other.transaction():  # takes the server connection `ours` used last (PgBouncer lends LIFO)
                    other.execute("SELECT 1")
                    ours.execute("SELECT %s::int + 1", (8,))
                outcomes[label] = "ok"
            except psycopg.Error as exc:
                outcomes[label] = type(exc).__name__
    assert outcomes["fkguard's"] == "ok"
    assert outcomes["psycopg's default"] in ("DuplicatePreparedStatement", "InvalidSqlStatementName"), outcomes


def test_a_kept_connection_prepares_its_repeated_queries_only_when_it_reaches_postgresql_directly(pgbouncer, pg):
    """The pack's and the provider's kept connections (fkguard.stack.connections): prepared statements, planned
    once, where they cannot go missing; through the pooler none, and every execution still succeeds."""
    direct = connections.thread_connection(pg, "fkguard-prepare-test")
    bounced = connections.thread_connection(pgbouncer.settings, "fkguard-prepare-test")
    try:
        for n in range(7):
            direct.execute("SELECT %s::int + 1", (n,))
            bounced.execute("SELECT %s::int + 1", (n,))
            with psycopg.connect(**pgbouncer.settings.connect_kwargs()) as other, other.transaction():
                other.execute("SELECT 1")  # another client between two executions, on the server connection
        prepared = direct.execute("SELECT statement FROM pg_prepared_statements").fetchall()
        assert [s for s, in prepared if "+ 1" in s], prepared
        assert bounced.prepare_threshold is None and direct.prepare_threshold == connections.PREPARE_THRESHOLD
    finally:
        direct.close()
        bounced.close()
