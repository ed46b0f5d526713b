"""A pg_dump of the tables a rollout touches, taken before its first change (the plan's Step 5.1).

The password reaches pg_dump through its environment (PGPASSWORD), never its command line, so
it shows in no process list and no message.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from psycopg import sql

from fkguard.catalog import QualifiedName
from fkguard.ddl import table_ref
from fkguard.settings import ConnectionSettings


class BackupError(RuntimeError):
    """The dump could not be taken; nothing was changed."""


@dataclass(frozen=True)
class Backup:
    path: str
    size_bytes: int
    rows: dict[str, int]
    taken_at: str


def pg_tool(name: str) -> str:
    for candidate in (f"/usr/lib/postgresql/15/bin/{name}", shutil.which(name)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise BackupError(f"{name} is not installed: apt-get install postgresql-client-15")


def libpq_env(settings: ConnectionSettings) -> dict[str, str]:
    env = {**os.environ, "PGHOST": settings.host, "PGPORT": str(settings.port), "PGDATABASE": settings.database,
           "PGUSER": settings.username, "PGSSLMODE": settings.sslmode, "PGCONNECT_TIMEOUT": "10"}
    if settings.password:
        env["PGPASSWORD"] = settings.password
    return env


def take(settings: ConnectionSettings, tables: list[QualifiedName], directory: Path, label: str) -> Backup:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc)
    path = directory / f"{label}-{stamp:%Y%m%d-%H%M%S}.dump"
    args = [pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={path}"]
    for table in tables:
        args.append(f"--table={table_ref(table).as_string()}")
    result = subprocess.run(args, env=libpq_env(settings), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        path.unlink(missing_ok=True)
        reason = (result.stderr.strip().splitlines() or ["pg_dump failed"])[-1]
        raise BackupError(f"the backup before the first change failed ({reason}); nothing was changed. Fix it, "
                          f"or set fkguard:backup false for this stack")
    with settings.connect() as conn:
        rows = {str(t): conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table_ref(t))
                                     ).fetchone()[0] for t in tables}
    return Backup(str(path.resolve()), path.stat().st_size, rows, stamp.isoformat(timespec="seconds"))
