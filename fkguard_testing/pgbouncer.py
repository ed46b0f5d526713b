"""Debian's PgBouncer in transaction mode in front of the test cluster, as most production PostgreSQL is reached.

Every database name is passed through to the cluster (the `*` entry), each (database, user) pair a pool of
POOL_SIZE server connections: few, so that clients share them, as they do in production, and a setting left on
one by a client reaches the next. Its folder lives under /var/tmp, one per port (the postgres user, which
PgBouncer runs as when the tests run as root, cannot enter root's temporary folders), and is removed with the
process at the session's end; one an interrupted run left is stopped (its pidfile) and removed at the next start.
The admin console (database `pgbouncer`) shows what went through."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
import pytest

from fkguard.stack.settings import ConnectionSettings
from fkguard_testing.fixtures import TEST_PG_PORT

BINARY = Path("/usr/sbin/pgbouncer")
PORT = TEST_PG_PORT + 600  # beside the suite's cluster and the TLS one (+500), below the next checkout's
POOL_SIZE = 2

INI = """[databases]
* = host=127.0.0.1 port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {folder}/userlist.txt
admin_users = {user}
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 200
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
"""


@dataclass(frozen=True)
class Pooler:
    """The running PgBouncer: `settings` reach the test cluster's database through it."""

    settings: ConnectionSettings
    folder: Path

    def to(self, database: str) -> ConnectionSettings:
        return replace(self.settings, database=database)

    def stats(self, database: str) -> dict[str, int]:
        """SHOW STATS of one database, from the admin console (the simple protocol: it takes nothing else)."""
        with psycopg.connect(**self.to("pgbouncer").connect_kwargs(), cursor_factory=psycopg.ClientCursor) as admin:
            cur = admin.cursor()
            cur.execute("SHOW STATS")
            names = [c.name for c in cur.description or []]
            for row in cur.fetchall():
                found = dict(zip(names, row, strict=True))
                if found["database"] == database:
                    return {k: int(v) for k, v in found.items() if str(v).isdigit()}  # numbers, as text or not
        raise AssertionError(f"PgBouncer has no stats for {database}: nothing went through it")

    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text() if path.exists() else ""


def _stop_leftover(folder: Path) -> None:
    """Stop the PgBouncer an interrupted run left on this folder (its pidfile), so the port is free again."""
    try:
        pid = int((folder / "pgbouncer.pid").read_text().split()[0])
        running = Path(f"/proc/{pid}/comm").read_text().strip() == "pgbouncer"
    except (OSError, ValueError, IndexError):
        return
    if running:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2:3]:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.1)


def _folder() -> Path:
    """The folder of this checkout's (and worker's) PgBouncer: one per port, emptied first."""
    folder = Path(f"/var/tmp/fkguard-pgbouncer-{PORT}")
    _stop_leftover(folder)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    return folder


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text)
    if os.geteuid() == 0:
        shutil.chown(folder / name, "postgres", "postgres")
    os.chmod(folder / name, 0o600)


def _wait_until_up(process: subprocess.Popen[bytes], pooler: Pooler) -> None:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise AssertionError(f"pgbouncer exited {process.returncode}:\n{pooler.log()}")
        try:
            with psycopg.connect(**pooler.settings.connect_kwargs()) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise AssertionError(f"pgbouncer does not answer on 127.0.0.1:{PORT}:\n{pooler.log()}") from None
            time.sleep(0.2)


@pytest.fixture(scope="session")
def pgbouncer(pg: ConnectionSettings) -> Iterator[Pooler]:
    """PgBouncer in transaction mode on PORT, in front of the test cluster; stopped and removed at the end."""
    if not BINARY.exists():
        raise AssertionError(f"{BINARY} is missing: run make bootstrap (it installs Debian's pgbouncer)")
    folder = _folder()
    _write(folder, "userlist.txt", f'"{pg.username}" "{pg.password}"\n')
    _write(folder, "pgbouncer.ini", INI.format(server_port=pg.port, port=PORT, folder=folder, user=pg.username,
                                               pool_size=POOL_SIZE))
    # In the foreground, as this process's child: stopped and reaped by it (a daemon would outlive a crash).
    as_postgres = ["-u", "postgres"] if os.geteuid() == 0 else []
    process = subprocess.Popen([str(BINARY), *as_postgres, str(folder / "pgbouncer.ini")], cwd=folder,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pooler = Pooler(replace(pg, port=PORT), folder)
    try:
        _wait_until_up(process, pooler)
        yield pooler
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


WATCHED = ("lock_timeout", "statement_timeout", "search_path", "default_transaction_read_only",
           "idle_in_transaction_session_timeout")


def settings_now(conn: psycopg.Connection) -> dict[str, str]:
    """The WATCHED settings as this connection's transaction (or statement) sees them."""
    return dict(conn.execute("SELECT n, current_setting(n) FROM unnest(%s::text[]) n", (list(WATCHED),)).fetchall())


def every_server_connection(pooler: Pooler, database: str) -> dict[int, dict[str, str]]:
    """What a new transaction of another client sees on each server connection of the database's pool, by server pid:
    POOL_SIZE clients of the same user each hold a transaction open at once, so each gets a server connection of
    its own and together they cover the whole pool."""
    seen: dict[int, dict[str, str]] = {}
    clients = [psycopg.connect(**pooler.to(database).connect_kwargs(application_name="another-client"))
               for _ in range(POOL_SIZE)]
    try:
        for client in clients:
            client.execute("BEGIN")  # the server connection is this client's until COMMIT
            pid = client.execute("SELECT pg_backend_pid()").fetchone()
            assert pid is not None
            seen[pid[0]] = settings_now(client)
        for client in clients:
            client.execute("COMMIT")
    finally:
        for client in clients:
            client.close()
    assert len(seen) == POOL_SIZE, f"{POOL_SIZE} clients in open transactions shared a server connection: {seen}"
    return seen
