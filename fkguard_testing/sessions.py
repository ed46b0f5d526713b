"""How many database sessions something opened: what the gate-cost test bounds and make bench reports."""

from __future__ import annotations

import time

from fkguard.stack.settings import ConnectionSettings


def sessions_opened(settings: ConnectionSettings) -> int:
    """Sessions ever established to the database (PostgreSQL 14+), once the finished ones are counted:
    a backend reports at exit, so the count is read until it holds still for 1.5 s."""
    seen, stable_since = -1, time.monotonic()
    with settings.connect() as conn:
        while time.monotonic() - stable_since < 1.5:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()
            now = int(row[0]) if row else 0
            if now != seen:
                seen, stable_since = now, time.monotonic()
            time.sleep(0.2)
    return seen - 1  # this reading's own session
