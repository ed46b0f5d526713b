"""Run DDL in short transactions that never queue behind a lock for long.

A DDL statement waiting for its lock blocks every later query on that table, so each attempt
sets a transaction-local lock_timeout; a timed-out attempt rolls back, waits with backoff and
jitter, and tries again until the overall budget is spent. Then the error names who held the lock.
A statement that refuses a transaction block (CREATE INDEX CONCURRENTLY) gets the same retries with
session-level timeouts around it (run_outside_transaction): one retry engine for every DDL fkguard runs. Those
need a session that stays this client's, which a transaction pooler does not give (fkguard.stack.pooler).
Before each such statement, fkguard.replicas waits while a standby replays too far behind.
"""

from __future__ import annotations

import datetime
import json
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import psycopg
from psycopg import errors, sql

from fkguard import replicas
from fkguard.catalog import QualifiedName
from fkguard.ddl import set_local_timeouts, table_ref
from fkguard.errors import FkguardError
from fkguard.stack import pooler
from fkguard.stack.options import MAX_REPLICA_LAG_MS, MAX_REPLICA_WAIT_MS, Options


@dataclass(frozen=True)
class LockPolicy:
    lock_timeout_ms: int = 3000
    budget_ms: int = 120_000
    statement_timeout_ms: int = 0
    first_backoff_ms: int = 200
    max_backoff_ms: int = 5000
    max_replica_lag_ms: int = MAX_REPLICA_LAG_MS  # 0: no standby is waited for
    max_replica_wait_ms: int = MAX_REPLICA_WAIT_MS

    @classmethod
    def from_options(cls, options: Options) -> LockPolicy:
        """The stack's fkguard:lockTimeout, lockRetryBudget, statementTimeout, maxReplicaLag and maxReplicaWait:
        every statement's budget."""
        return cls(lock_timeout_ms=options.lock_timeout_ms, budget_ms=options.lock_retry_budget_ms,
                   statement_timeout_ms=options.statement_timeout_ms, max_replica_lag_ms=options.max_replica_lag_ms,
                   max_replica_wait_ms=options.max_replica_wait_ms)

    def wait_for_standbys(self, conn: psycopg.Connection, what: str, sleep: Callable[[float], None]) -> None:
        """Before a change: while a standby replays more than fkguard:maxReplicaLag behind, wait (fkguard.replicas)."""
        replicas.wait_for_standbys(conn, self.max_replica_lag_ms, self.max_replica_wait_ms, what, sleep=sleep)


class LockBudgetExceeded(FkguardError):
    """The lock never came within the budget; the message names the sessions holding it."""

    def __init__(self, message: str, *, tables: tuple[str, ...], attempts: int) -> None:
        super().__init__(message)
        self.tables = tables  # the tables whose locks were asked for
        self.attempts = attempts


@dataclass(frozen=True)
class Holder:
    pid: int
    state: str
    mode: str
    relation: str
    xact_start: str
    query_start: str
    application: str
    query: str

    def describe(self) -> str:
        return (
            f"pid {self.pid} ({self.application or 'no application_name'}, {self.state}, transaction since "
            f"{self.xact_start}, last query at {self.query_start}) holds {self.mode} on {self.relation}: "
            f"{self.query!r}"
        )


_HOLDERS = """
SELECT l.pid, coalesce(a.state, '?'), l.mode, l.relation::regclass::text,
       coalesce(to_char(a.xact_start, 'YYYY-MM-DD HH24:MI:SS'), '?'),
       coalesce(to_char(a.query_start, 'YYYY-MM-DD HH24:MI:SS'), '?'),
       coalesce(a.application_name, ''), left(coalesce(a.query, ''), 120)
FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.granted AND l.locktype = 'relation' AND l.pid <> pg_backend_pid()
  AND l.relation = ANY(ARRAY(SELECT to_regclass(t) FROM unnest(%s::text[]) t))
ORDER BY a.xact_start NULLS LAST, l.pid
"""


def lock_holders(conn: psycopg.Connection, tables: Sequence[QualifiedName]) -> list[Holder]:
    """Sessions holding any lock on these tables (PostgreSQL's own view: pg_locks, pg_stat_activity)."""
    names = [table_ref(t).as_string(conn) for t in tables]
    rows = conn.execute(_HOLDERS, (names,)).fetchall()
    seen: dict[int, Holder] = {}
    for row in rows:
        seen.setdefault(row[0], Holder(*row))
    return list(seen.values())


TRACE_ENV = "FKGUARD_LOCK_TRACE"


def _trace(what: str, tables: Sequence[QualifiedName], attempt: int, sent: float, outcome: str) -> None:
    """With FKGUARD_LOCK_TRACE=<file>, one JSON line per attempt: when it ran and for how long, to
    lay beside the application's latency graph (the benchmark does). The lock is held within it."""
    path = os.environ.get(TRACE_ENV)
    if not path:
        return
    ended = time.monotonic()
    line = {"what": what, "tables": [str(t) for t in tables], "attempt": attempt, "outcome": outcome,
            "ended_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "monotonic_start": sent, "monotonic_end": ended, "ms": round((ended - sent) * 1000, 3)}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


GiveUp = Callable[[int, list[Holder]], Exception]
"""The error to raise once the budget is spent, from the attempts made and the sessions holding the lock:
each caller words it for what its user runs again."""


def _retrying(conn: psycopg.Connection, attempt_once: Callable[[], None], tables: Sequence[QualifiedName],
              policy: LockPolicy, what: str, sleep: Callable[[float], None], give_up: GiveUp, *,
              retry_on: tuple[type[psycopg.Error], ...] = (errors.LockNotAvailable,), traced: bool = True,
              on_retry: Callable[[int, float], None] | None = None) -> int:
    """Call attempt_once until it is not stopped by one of `retry_on`, within the budget; the attempts it took."""
    deadline = time.monotonic() + policy.budget_ms / 1000
    attempt = 0
    backoff = policy.first_backoff_ms / 1000
    while True:
        attempt += 1
        sent = time.monotonic()
        try:
            attempt_once()
            if traced:
                _trace(what, tables, attempt, sent, "done")
            return attempt
        except retry_on:
            if traced:
                _trace(what, tables, attempt, sent, "lock_timeout")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise give_up(attempt, lock_holders(conn, tables)) from None
            # Full jitter: concurrent retries do not return in step.
            delay = min(remaining, random.uniform(0, backoff))
            if on_retry:
                on_retry(attempt, delay)
            sleep(delay)
            backoff = min(backoff * 2, policy.max_backoff_ms / 1000)
        except psycopg.Error:
            if traced:  # a refusal (orphans, a timeout): the caller says which
                _trace(what, tables, attempt, sent, "error")
            raise


def _budget_exceeded(tables: Sequence[QualifiedName], policy: LockPolicy, what: str, then: str) -> GiveUp:
    def give_up(attempt: int, holders: list[Holder]) -> Exception:
        who = "; ".join(h.describe() for h in holders) or "no session holds a lock on them now"
        return LockBudgetExceeded(
            f"{what}: gave up after {attempt} attempts in {policy.budget_ms / 1000:g}s, each waiting at most "
            f"{policy.lock_timeout_ms}ms for a lock on {', '.join(map(str, tables))}. Blocking: {who}. "
            f"End that transaction (or raise fkguard:lockRetryBudget) and {then}",
            tables=tuple(map(str, tables)), attempts=attempt,
        )

    return give_up


def _autocommit_only(conn: psycopg.Connection, caller: str) -> None:
    if not conn.autocommit:
        raise ValueError(f"{caller} needs an autocommit connection: each attempt must be its own transaction")


def run_locked(
    conn: psycopg.Connection,
    statements: Sequence[sql.Composable],
    tables: Sequence[QualifiedName],
    policy: LockPolicy,
    *,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, float], None] | None = None,
) -> int:
    """Run `statements` in one transaction under SET LOCAL lock_timeout, retrying lock timeouts.

    Each attempt goes to the server as one message, which PostgreSQL runs as one implicit
    transaction: it takes the lock, runs and commits without waiting on fkguard, so the lock is
    held for the statements' own time and never for a network round trip or a client the OS has
    paused. An error rolls the whole attempt back. Returns the number of attempts. `conn` must be
    in autocommit mode, or the attempt would join the caller's transaction and keep its locks.
    """
    _autocommit_only(conn, "run_locked")
    attempt_sql = sql.SQL("; ").join(
        [set_local_timeouts(policy.lock_timeout_ms, policy.statement_timeout_ms), *statements])

    def once() -> None:
        conn.execute(attempt_sql)  # no parameters: the simple protocol, all statements in one message

    policy.wait_for_standbys(conn, what, sleep)
    return _retrying(conn, once, tables, policy, what, sleep,
                     _budget_exceeded(tables, policy, what, "run pulumi up again"), on_retry=on_retry)


T = TypeVar("T")


def in_locked_transaction(
    conn: psycopg.Connection,
    work: Callable[[], T],
    tables: Sequence[QualifiedName],
    policy: LockPolicy,
    *,
    what: str,
    then: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `work` in a transaction of its own under the same SET LOCAL lock_timeout and statement_timeout
    as run_locked, retrying lock timeouts within the same budget: for writes that need parameters or
    read their result (remediation's copy-then-delete). A lock wait past the budget is LockBudgetExceeded,
    with nothing changed; `then` says what to run again."""
    _autocommit_only(conn, "in_locked_transaction")
    done: list[T] = []

    def once() -> None:
        with conn.transaction():
            conn.execute(set_local_timeouts(policy.lock_timeout_ms, policy.statement_timeout_ms))
            done.append(work())

    _retrying(conn, once, tables, policy, what, sleep, _budget_exceeded(tables, policy, what, then))
    return done[-1]


@contextmanager
def _session_timeouts(conn: psycopg.Connection, lock_timeout_ms: int, statement_timeout_ms: int) -> Iterator[None]:
    """lock_timeout and statement_timeout for this session, around one statement that refuses a
    transaction block, then back to the server's defaults (the connection is kept for later steps)."""
    conn.execute(sql.SQL("SELECT set_config('lock_timeout', {}, false), set_config('statement_timeout', {}, false)")
                 .format(sql.Literal(f"{lock_timeout_ms}ms"), sql.Literal(f"{statement_timeout_ms}ms")))
    try:
        yield
    finally:
        if not (conn.closed or conn.broken):
            conn.execute("RESET lock_timeout; RESET statement_timeout")


# The statements run_outside_transaction runs, as a plan (plan_sql) writes them.
OUTSIDE_TRANSACTION = ("CREATE INDEX CONCURRENTLY", "DROP INDEX CONCURRENTLY")


def needs_session(planned: Sequence[str]) -> bool:
    """Whether a plan's statements include one that refuses a transaction block, and so needs a session."""
    return any(line.startswith(OUTSIDE_TRANSACTION) for line in planned)


def run_outside_transaction(
    conn: psycopg.Connection,
    statement: sql.Composed,
    tables: Sequence[QualifiedName],
    policy: LockPolicy,
    *,
    what: str,
    statement_timeout_ms: int,
    give_up: GiveUp,
    after_lock_failure: Callable[[], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run one statement that refuses a transaction block (CREATE or DROP INDEX CONCURRENTLY) with
    lock_timeout and statement_timeout set for the session around it, since SET LOCAL has no transaction
    to live in; lock timeouts and deadlocks are retried within the budget as run_locked retries.

    A concurrent build waits for every transaction using the table, so two builds can deadlock: either
    may go again. `after_lock_failure` runs after each such failed attempt, before the wait (a failed
    build leaves an INVALID index behind). No lock trace: such a statement holds no lock that stops
    writes, and the trace is read as the windows in which writes wait. Refused on a connection through a pooler
    that the user did not name as direct (fkguard.stack.pooler): the settings would reach other clients."""
    if not pooler.holds_session(conn):
        raise pooler.refusal(conn, what)

    def once() -> None:
        try:
            with _session_timeouts(conn, policy.lock_timeout_ms, statement_timeout_ms):
                conn.execute(statement)
        except (errors.LockNotAvailable, errors.DeadlockDetected):
            if after_lock_failure:
                after_lock_failure()
            raise

    policy.wait_for_standbys(conn, what, sleep)
    return _retrying(conn, once, tables, policy, what, sleep, give_up,
                     retry_on=(errors.LockNotAvailable, errors.DeadlockDetected), traced=False)
