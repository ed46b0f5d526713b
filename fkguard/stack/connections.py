"""One connection per thread and per database, kept for the process's life.

Connecting (TLS, SCRAM) costs more than most of what fkguard asks, and a deployment must not open
sessions in proportion to its catalog: behind a pooler or a connection limit, one session per policy
per foreign key was thousands per deployment. The provider and the policy pack are each called from
a few threads (4 in the SDKs), so each process holds at most that many sessions. Every statement
fkguard runs on them is its own transaction (autocommit, or a transaction block it closes), so
nothing carries over from one use to the next.
"""

from __future__ import annotations

import threading
import weakref

import psycopg

from fkguard.stack.settings import ConnectionSettings

_per_thread = threading.local()
_pooled: weakref.WeakKeyDictionary[psycopg.Connection, bool] = weakref.WeakKeyDictionary()
# psycopg's own default: a statement run this many times on a connection is prepared, then planned once. Each step
# of a key asks the same catalog queries, which on a direct connection cost the server 2.5 times the CPU unprepared
# (docs/performance.md, 2026-12-06).
PREPARE_THRESHOLD = 5


def pooled(conn: psycopg.Connection) -> bool:
    """Whether `conn` reaches PostgreSQL through a pooler (its startup was answered by something else: see
    fkguard.stack.pooler)."""
    if conn not in _pooled:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        _pooled[conn] = row is None or row[0] != conn.info.backend_pid
    return _pooled[conn]


def thread_connection(settings: ConnectionSettings, application_name: str = "fkguard") -> psycopg.Connection:
    """This thread's open connection to `settings`' database, made on first use or after it broke."""
    held: dict[tuple[ConnectionSettings, str], psycopg.Connection] = _per_thread.__dict__.setdefault("held", {})
    key = (settings, application_name)
    conn = held.get(key)
    if conn is None or conn.closed or conn.broken:
        if conn is not None:
            conn.close()
        conn = held[key] = settings.connect(application_name=application_name)
        if not pooled(conn):  # a pooler may run the next execution where the statement was never prepared
            conn.prepare_threshold = PREPARE_THRESHOLD
    return conn
