"""A pg_dump of the tables a rollout touches, taken before its first change (the plan's Step 5.1).

The password reaches pg_dump through its environment (PGPASSWORD), never its command line, so
it shows in no process list and no message.
"""

from __future__ import annotations

import datetime
import functools
import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from psycopg import sql

from fkguard.catalog import QualifiedName
from fkguard.ddl import table_ref
from fkguard.errors import FkguardError
from fkguard.query_row import one
from fkguard.stack.settings import ConnectionSettings, connection_fix


class BackupError(FkguardError):
    """The dump could not be taken; nothing was changed."""


@dataclass(frozen=True)
class Backup:
    path: str
    size_bytes: int
    rows: dict[str, int]
    taken_at: str


def pg_tool(name: str) -> str:
    """Debian's client tool `name` (psql, pgbench: they talk to any server of 14 to 18)."""
    for candidate in (f"/usr/lib/postgresql/15/bin/{name}", shutil.which(name)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise BackupError(f"{name} is not installed: apt-get install postgresql-client-15")


# Where scripts/bootstrap-postgres.sh links the client tools it installs (<major>-client/bin);
# scripts/env.sh exports it, for the program run from a scratch copy of the project too.
TOOLS_ENV = "FKGUARD_PG_TOOLS"
PG_DUMP_ENV = "FKGUARD_PG_DUMP"


def _pg_dump_candidates() -> list[str]:
    explicit = os.environ.get(PG_DUMP_ENV)
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise BackupError(f"{PG_DUMP_ENV}={explicit} is not an executable pg_dump: fix the path, or unset it")
        return [explicit]  # the operator's choice, and only it
    tools = [os.environ.get(TOOLS_ENV, ""), str(Path(__file__).resolve().parent.parent / ".tools" / "postgres")]
    found = [p for t in tools if t for p in sorted(glob.glob(os.path.join(t, "*-client", "bin", "pg_dump")))]
    found += sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))
    found.append(shutil.which("pg_dump") or "")
    return [p for p in found if p and os.access(p, os.X_OK)]


@functools.cache
def _tool_major(path: str) -> int | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False, timeout=30).stdout
    except OSError:
        return None
    match = re.search(r"\(PostgreSQL\) (\d+)", out)
    return int(match.group(1)) if match else None


def server_major(settings: ConnectionSettings) -> int:
    with settings.connect() as conn:
        return conn.info.server_version // 10000


def client_bin(server: int) -> Path:
    """The bin folder of the oldest pg_dump that can dump a PostgreSQL `server` (pg_dump refuses a
    server newer than itself; the oldest fitting one keeps Debian's 15 for servers up to 15)."""
    found = [(major, path) for path in _pg_dump_candidates() if (major := _tool_major(path))]
    fitting = sorted((f for f in found if f[0] >= server), key=lambda f: f[0])  # stable: the bootstrap's, Debian's, PATH's
    if fitting:
        return Path(fitting[0][1]).parent
    if not found:
        raise BackupError(f"pg_dump is not installed: run make bootstrap, or set {PG_DUMP_ENV} to a pg_dump {server} or newer")
    major, path = max(found)
    raise BackupError(f"pg_dump {major} ({path}) cannot dump the server's PostgreSQL {server} (pg_dump refuses newer "
                      f"servers): run make bootstrap (it installs pg_dump 18), or set {PG_DUMP_ENV} to a pg_dump "
                      f"{server} or newer, or set fkguard:backup false for this stack")


def libpq_env(settings: ConnectionSettings) -> dict[str, str]:
    env = {**os.environ, "PGHOST": settings.host, "PGPORT": str(settings.port), "PGDATABASE": settings.database,
           "PGUSER": settings.username, "PGSSLMODE": settings.sslmode, "PGCONNECT_TIMEOUT": "10"}
    if settings.password:
        env["PGPASSWORD"] = settings.password
    # The stack's TLS files by libpq's environment names (PGSSLROOTCERT, ...): pg_dump verifies the server
    # as every other connection of fkguard does, and an inherited PGSSL* of the shell cannot weaken it.
    for name in ("sslrootcert", "sslcert", "sslkey"):
        env.pop(f"PG{name.upper()}", None)
    env.update({f"PG{name.upper()}": value for name, value in settings.tls_params().items()})
    return env


def take(settings: ConnectionSettings, tables: list[QualifiedName], directory: Path, label: str) -> Backup:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc)
    path = directory / f"{label}-{stamp:%Y%m%d-%H%M%S}.dump"
    pg_dump = client_bin(server_major(settings)) / "pg_dump"
    args = [str(pg_dump), "--format=custom", "--no-owner", "--no-privileges", f"--file={path}"]
    for table in tables:
        args.append(f"--table={table_ref(table).as_string()}")
    result = subprocess.run(args, env=libpq_env(settings), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        path.unlink(missing_ok=True)
        reason = (result.stderr.strip().splitlines() or ["pg_dump failed"])[-1]
        fix = connection_fix(reason) if "connection to server" in reason or "SSL" in reason else "Fix it"
        raise BackupError(f"the backup before the first change failed ({reason}); nothing was changed. {fix}, "
                          f"or set fkguard:backup false for this stack")
    with settings.connect() as conn:
        rows = {str(t): one(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table_ref(t))))[0] for t in tables}
    return Backup(str(path.resolve()), path.stat().st_size, rows, stamp.isoformat(timespec="seconds"))
