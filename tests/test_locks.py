"""Lock protection: a blocked ALTER waits at most lock_timeout per attempt, retries, and names the blocker."""

import json
import threading
import time

import psycopg
import pytest
from psycopg import sql

from fkguard import ddl
from fkguard.catalog import ForeignKey, QualifiedName
from fkguard.locks import LockBudgetExceeded, LockPolicy, run_locked

FK = ForeignKey("fk_lk_child_parent", "high", QualifiedName("public", "lk_child"), ("parent_id",),
                QualifiedName("public", "lk_parent"), ("id",), "RESTRICT")


@pytest.fixture()
def tables(conn):
    conn.execute("DROP TABLE IF EXISTS lk_child, lk_parent")
    conn.execute("CREATE TABLE lk_parent (id text PRIMARY KEY)")
    conn.execute("CREATE TABLE lk_child (id int, parent_id text)")
    yield
    conn.execute("DROP TABLE IF EXISTS lk_child, lk_parent")


def hold_lock(pg, seconds, ready):
    with pg.connect(autocommit=False, application_name="app-writer") as blocker:
        blocker.execute("INSERT INTO lk_parent VALUES ('p1')")  # an open write transaction
        ready.set()
        time.sleep(seconds)
        blocker.rollback()


def test_retries_until_the_blocker_ends(pg, conn, tables):
    ready = threading.Event()
    blocker = threading.Thread(target=hold_lock, args=(pg, 1.5, ready))
    blocker.start()
    ready.wait(5)
    retries = []
    attempts = run_locked(conn, [ddl.add_not_valid(FK)], [FK.table, FK.references],
                          LockPolicy(lock_timeout_ms=200, budget_ms=10_000), what="adding",
                          on_retry=lambda n, d: retries.append(d))
    blocker.join()
    assert attempts >= 2 and len(retries) == attempts - 1
    # Full jitter under a doubling cap: the n-th wait is at most 200ms * 2^(n-1) (never above 5s).
    assert all(0 <= d <= min(0.2 * 2 ** n, 5) for n, d in enumerate(retries)), retries
    assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conname = %s", (FK.name,)).fetchone()[0] == 1


def test_budget_spent_names_the_blocking_session(pg, conn, tables):
    ready = threading.Event()
    blocker = threading.Thread(target=hold_lock, args=(pg, 3, ready))
    blocker.start()
    ready.wait(5)
    try:
        with pytest.raises(LockBudgetExceeded) as err:
            run_locked(conn, [ddl.add_not_valid(FK)], [FK.table, FK.references],
                       LockPolicy(lock_timeout_ms=100, budget_ms=800), what="adding fk_lk_child_parent")
    finally:
        blocker.join()
    text = str(err.value)
    assert text.startswith("adding fk_lk_child_parent: gave up after ")
    assert "each waiting at most 100ms for a lock on public.lk_child, public.lk_parent" in text
    assert "(app-writer, idle in transaction, transaction since " in text and "holds RowExclusiveLock on lk_parent" in text
    assert text.endswith("End that transaction (or raise fkguard:lockRetryBudget) and run pulumi up again")
    assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conname = %s", (FK.name,)).fetchone()[0] == 0


def test_an_attempt_is_one_message_so_the_lock_never_waits_on_the_client(pg, conn, tables):
    run_locked(conn, [ddl.add_not_valid(FK)], [FK.table, FK.references], LockPolicy(), what="adding")
    pid = conn.info.backend_pid
    with pg.connect() as observer:
        last = observer.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0]
    # One message: the server commits as soon as the ALTER is done, with no COMMIT round trip after it.
    assert last.startswith("SELECT set_config('lock_timeout'") and "ADD CONSTRAINT" in last and "NOT VALID" in last


def test_a_failed_attempt_leaves_nothing_behind(conn, tables):
    with pytest.raises(psycopg.errors.DivisionByZero):
        run_locked(conn, [ddl.add_not_valid(FK), sql.SQL("SELECT 1 / 0")], [FK.table], LockPolicy(), what="adding")
    assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conname = %s", (FK.name,)).fetchone()[0] == 0
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert conn.execute("SHOW lock_timeout").fetchone()[0] == "0"  # SET LOCAL went with the attempt


def test_refuses_a_connection_inside_a_transaction(pg, tables):
    with pg.connect(autocommit=False) as inside, pytest.raises(ValueError, match="autocommit"):
        run_locked(inside, [ddl.add_not_valid(FK)], [FK.table], LockPolicy(), what="adding")


def test_trace_file_gets_a_line_per_attempt(pg, conn, tables, tmp_path, monkeypatch):
    trace = tmp_path / "locks.jsonl"
    monkeypatch.setenv("FKGUARD_LOCK_TRACE", str(trace))
    ready = threading.Event()
    blocker = threading.Thread(target=hold_lock, args=(pg, 0.6, ready))
    blocker.start()
    ready.wait(5)
    attempts = run_locked(conn, [ddl.add_not_valid(FK)], [FK.table, FK.references],
                          LockPolicy(lock_timeout_ms=100, budget_ms=10_000), what="adding fk_lk_child_parent")
    blocker.join()
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    assert len(lines) == attempts >= 2
    assert [line["outcome"] for line in lines] == ["lock_timeout"] * (attempts - 1) + ["done"]
    assert all(line["what"] == "adding fk_lk_child_parent" and line["tables"] == ["public.lk_child", "public.lk_parent"]
               for line in lines)
    assert all(line["monotonic_start"] <= line["monotonic_end"] for line in lines)
    assert all(line["ms"] >= 90 for line in lines[:-1])  # each timed-out attempt waited its lock_timeout


def test_trace_records_a_refused_attempt_too(conn, tables, tmp_path, monkeypatch):
    trace = tmp_path / "locks.jsonl"
    monkeypatch.setenv("FKGUARD_LOCK_TRACE", str(trace))
    with pytest.raises(psycopg.errors.DivisionByZero):
        run_locked(conn, [sql.SQL("SELECT 1 / 0")], [FK.table], LockPolicy(), what="dividing")
    assert [json.loads(line)["outcome"] for line in trace.read_text().splitlines()] == ["error"]
