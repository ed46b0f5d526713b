"""A hot standby of the test cluster, streaming from it (scripts/pg.sh standby: pg_basebackup -R), as production
databases have: its own folder and port beside the test cluster, made for one test module and destroyed after it
(while it streams, every change the suite makes is paced on it). Its superuser reaches it through its socket
folder, trusted there, to pause and resume its replay."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest

from fkguard.stack.settings import ConnectionSettings
from fkguard_testing.fixtures import TEST_PG_PORT, TEST_PGDATA, pg_script

PORT = TEST_PG_PORT + 700  # beside the TLS cluster (+500) and PgBouncer (+600), below the next checkout's ports
PGDATA = TEST_PGDATA.with_name(TEST_PGDATA.name + "-standby")
NAME = "fkguard-standby"
T = TypeVar("T")  # its cluster_name, which the primary's pg_stat_replication shows as application_name


def _superuser(folder: Path, port: int, database: str = "postgres") -> psycopg.Connection:
    """A cluster's superuser through its socket folder (trusted there)."""
    return psycopg.connect(host=str(folder.resolve()), port=port, dbname=database, user="postgres", autocommit=True)


def primary_superuser(database: str = "postgres") -> psycopg.Connection:
    return _superuser(TEST_PGDATA, TEST_PG_PORT, database)


@dataclass(frozen=True)
class Standby:
    settings: ConnectionSettings  # the test role's connection to it, like the primary's but for the port

    def superuser(self) -> psycopg.Connection:
        return _superuser(PGDATA, PORT)

    def replay_lag(self) -> float | None:
        """Its replay lag in seconds, as the primary sees it (None: it shows no lag)."""
        with primary_superuser() as conn:
            row = conn.execute("SELECT extract(epoch FROM replay_lag)::float8 FROM pg_stat_replication "
                               "WHERE application_name = %s", (NAME,)).fetchone()
        return row[0] if row else None

    def pause(self, above_s: float, timeout_s: float = 60) -> float:
        """Pause its replay, write on the primary, and return once the primary sees its lag above `above_s`."""
        with self.superuser() as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
        with primary_superuser() as conn:
            conn.execute("SELECT txid_current()")  # a commit the paused standby receives and does not replay
        return poll(lambda: (lag := self.replay_lag()) is not None and lag > above_s and lag, timeout_s,
                    f"the standby's replay lag to exceed {above_s}s")

    def resume(self) -> None:
        with self.superuser() as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    def caught_up(self, timeout_s: float = 60) -> None:
        """Return once the standby has replayed everything the primary wrote so far."""
        with primary_superuser() as conn:
            target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        with self.superuser() as conn:
            poll(lambda: conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()[0],
                 timeout_s, "the standby to replay what the primary wrote")


def poll(check: Callable[[], T], timeout_s: float, what: str, every_s: float = 0.1) -> T:
    """Call `check` until it returns something true (returned), for at most `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s}s for {what}")
        time.sleep(every_s)


@pytest.fixture(scope="module")
def standby(pg: ConnectionSettings) -> Iterator[Standby]:
    """The standby, streaming; destroyed (and so gone from the primary's pg_stat_replication) after the module."""
    pg_script("destroy", port=PORT, datadir=PGDATA, check=False)  # what an interrupted run left
    pg_script("standby", str(TEST_PGDATA), str(TEST_PG_PORT), port=PORT, datadir=PGDATA)
    try:
        found = Standby(dataclasses.replace(pg, port=PORT))
        with found.superuser() as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        with primary_superuser() as conn:
            poll(lambda: conn.execute("SELECT state FROM pg_stat_replication WHERE application_name = %s",
                                      (NAME,)).fetchone() == ("streaming",), 60, "the standby to stream")
        yield found
    finally:
        pg_script("destroy", port=PORT, datadir=PGDATA, check=False)
