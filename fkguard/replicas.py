"""Streaming standbys as the primary sees them (pg_stat_replication), and the pause fkguard makes for them.

Each standby replays every change fkguard makes: a CREATE INDEX CONCURRENTLY writes the whole index to the WAL,
and a standby that replays it slower than the primary wrote it falls behind, its readers seeing older data. So
before each statement that changes the database (fkguard.locks runs them all) fkguard reads every standby's replay
lag and, while one exceeds fkguard:maxReplicaLag, waits and says so, for at most fkguard:maxReplicaWait (GitLab's
background migrations, pg-osc and gh-ost throttle on replication lag the same way).

The lag is PostgreSQL's replay_lag: how long ago the primary flushed the oldest WAL the standby has not yet
reported replayed, which keeps growing while its replay is stuck. PostgreSQL shows NULL once a standby has
replayed all it was sent: no lag. A walsender of logical replication (a subscriber, a change-data reader) is no
standby and is left out. PostgreSQL shows these columns only to superusers and members of pg_monitor (or
pg_read_all_stats); to any other role a standby's row is NULLs, which would read as no lag, so fkguard refuses
in one line naming the grant rather than pace on nothing. Only connected standbys are seen: one that is down
holds nothing back here (its replication slot, if it has one, holds the primary's WAL instead).
"""

from __future__ import annotations

import sys
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from fkguard.errors import FkguardError

# How often the lag is read again while waiting, and how often the wait says so again.
POLL_S = 1.0
PROGRESS_EVERY_S = 10.0
LAG_KEY, WAIT_KEY = "fkguard:maxReplicaLag", "fkguard:maxReplicaWait"

_STANDBYS = """
SELECT r.pid, coalesce(nullif(r.application_name, ''), 'pid ' || r.pid), coalesce(host(r.client_addr), 'local socket'),
       r.state, coalesce(extract(epoch FROM r.replay_lag), 0)::float8,
       pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::bigint
FROM pg_stat_replication r
WHERE NOT EXISTS (SELECT FROM pg_replication_slots s WHERE s.active_pid = r.pid AND s.slot_type = 'logical')
ORDER BY r.replay_lag DESC NULLS LAST, r.pid
"""

_OLDEST_TRANSACTION = """
SELECT pid, coalesce(nullif(application_name, ''), usename, '?'), coalesce(state, '?'),
       extract(epoch FROM now() - xact_start)::float8, age(backend_xmin), left(coalesce(query, ''), 120)
FROM pg_stat_activity
WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()
ORDER BY xact_start LIMIT 1
"""


class ReplicaLagError(FkguardError):
    """The standbys' lag cannot be read, or stayed above fkguard:maxReplicaLag for all of fkguard:maxReplicaWait."""


@dataclass(frozen=True)
class Standby:
    pid: int  # its walsender's, on the primary
    name: str  # its application_name (the standby's cluster_name, or walreceiver)
    address: str
    state: str  # streaming, catchup, ...
    replay_lag_s: float  # 0 once it has replayed all it was sent
    behind_bytes: int | None  # WAL the primary wrote that it has not replayed

    def describe(self) -> str:
        return f"{self.name} ({self.address}, {self.state})"


@dataclass(frozen=True)
class OldestTransaction:
    pid: int
    application: str
    state: str
    age_s: float
    xmin_age: int | None  # transactions since its snapshot's horizon: what vacuum may not clean up behind it
    query: str

    def describe(self) -> str:
        horizon = f", holding vacuum's horizon {self.xmin_age} transactions back" if self.xmin_age else ""
        return f"pid {self.pid} ({self.application}, {self.state}) open for {self.age_s:.1f} s{horizon}: {self.query!r}"


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g}s"


def hidden_from(user: str) -> ReplicaLagError:
    return ReplicaLagError(
        f"{LAG_KEY}: {user} cannot see the standbys' replay lag (PostgreSQL shows pg_stat_replication's columns only to "
        f"superusers and members of pg_monitor): GRANT pg_monitor TO {user}, or set {LAG_KEY} off")


def _read(conn: psycopg.Connection) -> tuple[list[Standby], int]:
    """The standbys whose lag this role can see, and how many it cannot."""
    rows = conn.execute(_STANDBYS).fetchall()
    return [Standby(*row) for row in rows if row[3] is not None], sum(row[3] is None for row in rows)


def standbys(conn: psycopg.Connection) -> list[Standby]:
    """Every standby streaming from this primary, most behind first; refused when the role cannot see their lag."""
    seen, hidden = _read(conn)
    if hidden:
        raise hidden_from(conn.info.user)
    return seen


def lagging(found: list[Standby], max_lag_ms: int) -> list[Standby]:
    return [s for s in found if s.replay_lag_s * 1000 > max_lag_ms]


_visible: weakref.WeakSet[psycopg.Connection] = weakref.WeakSet()  # connections whose role was seen to read the lag


def check_visible(conn: psycopg.Connection, max_lag_ms: int) -> None:
    """At preview: the role can read what the pacing needs (nothing to read with the check off); once per connection."""
    if max_lag_ms > 0 and conn not in _visible:
        standbys(conn)
        _visible.add(conn)


def _stderr(message: str) -> None:
    # In the provider's process stderr reaches the pulumi CLI, which shows each line on the stack.
    print(message, file=sys.stderr, flush=True)


def wait_for_standbys(conn: psycopg.Connection, max_lag_ms: int, max_wait_ms: int, what: str, *,
                      progress: Callable[[str], None] = _stderr, sleep: Callable[[float], None] = time.sleep,
                      clock: Callable[[], float] = time.monotonic) -> int:
    """Return once no standby replays more than `max_lag_ms` behind (at once when none does, or when it is 0),
    saying so every PROGRESS_EVERY_S while waiting; past `max_wait_ms` of waiting, ReplicaLagError naming the
    standby. Returns how many times it found one behind."""
    if max_lag_ms <= 0:
        return 0
    started, told, waits = clock(), -PROGRESS_EVERY_S, 0
    while True:
        behind = lagging(standbys(conn), max_lag_ms)
        waited = clock() - started
        if not behind:
            if waits:
                progress(f"fkguard: {what}: the standbys caught up after {waited:.0f} s; going on")
            return waits
        worst = behind[0]
        lag = f"standby {worst.describe()} replays {worst.replay_lag_s:.1f} s behind, above {LAG_KEY} {_seconds(max_lag_ms)}"
        if waited * 1000 >= max_wait_ms:
            raise ReplicaLagError(
                f"{what}: {lag} after waiting {WAIT_KEY} {_seconds(max_wait_ms)}; nothing of this step ran. Find what "
                f"holds its replay back (pg_stat_replication on the primary; a paused replay: pg_wal_replay_resume() on "
                f"the standby) or raise {WAIT_KEY}, then run pulumi up again")
        if clock() - told >= PROGRESS_EVERY_S:
            progress(f"fkguard: {what} waits: {lag} (waited {waited:.0f} s of {WAIT_KEY} {_seconds(max_wait_ms)})")
            told = clock()
        waits += 1
        sleep(min(POLL_S, max_wait_ms / 1000 - waited))


@dataclass(frozen=True)
class Replication:
    """What fkguard monitor shows of the standbys and of the transaction that holds vacuum back longest."""

    standbys: list[Standby]
    hidden: int  # standbys whose lag this role cannot see
    oldest: OldestTransaction | None
    all_sessions: bool  # the role sees every session's transaction (pg_read_all_stats), not only its own

    def lines(self, user: str) -> list[str]:
        out = [f"standby {s.describe()}: replay lag {s.replay_lag_s:.1f} s, {s.behind_bytes or 0} bytes of WAL "
               f"not yet replayed" for s in self.standbys]
        if self.hidden:
            out.append(f"{self.hidden} standby(s) whose lag {user} cannot see: GRANT pg_monitor TO {user}")
        if not self.standbys and not self.hidden:
            out.append("no standby streams from this database's cluster")
        out.append(f"oldest transaction: {self.oldest.describe()}" if self.oldest else "oldest transaction: none open")
        if not self.all_sessions:
            out.append(f"(other roles' sessions are hidden from {user}: GRANT pg_monitor TO {user} to see them all)")
        return out

    def as_dict(self) -> dict[str, object]:
        return {"standbys": [s.__dict__ for s in self.standbys], "hiddenStandbys": self.hidden,
                "oldestTransaction": self.oldest.__dict__ if self.oldest else None, "allSessions": self.all_sessions}


def replication(conn: psycopg.Connection) -> Replication:
    """The standbys' replay lag and the oldest open transaction, as this role may see them."""
    seen, hidden = _read(conn)
    row = conn.execute(_OLDEST_TRANSACTION).fetchone()
    everything = conn.execute("SELECT pg_has_role('pg_read_all_stats', 'USAGE')").fetchone()
    return Replication(seen, hidden, OldestTransaction(*row) if row else None, bool(everything and everything[0]))
