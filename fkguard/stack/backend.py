"""The team's shared Pulumi state in PostgreSQL: the database and role of Pulumi's DIY postgres backend
(`pulumi login postgres://…`, the table pulumi_state), made idempotently by `fkguard state-db`.

The backend (pkg/backend/diy/postgres) connects with Go's lib/pq, which reads libpq's environment
(PGPASSWORD, PGPASSFILE or ~/.pgpass, PGSSLROOTCERT, ...). The password therefore stays out of
PULUMI_BACKEND_URL, which Pulumi writes in clear into $PULUMI_HOME/workspaces/*-workspace.json: the URL
names the role, host and database only, and the password comes from a passfile (or PGPASSWORD).
The role's password is hashed (SCRAM) on this side before it is sent, so it is in no server log either.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from fkguard.errors import FkguardError
from fkguard.query_row import one

DEFAULT_NAME = "pulumi_state"  # the database, the role and (Pulumi's default) the table


class StateDbError(FkguardError):
    """The state database could not be set up; what was done so far is idempotent and safe to rerun."""


@dataclass(frozen=True)
class StateDb:
    host: str
    port: int
    database: str = DEFAULT_NAME
    role: str = DEFAULT_NAME
    sslmode: str = "prefer"
    tls: dict[str, str] = field(default_factory=dict)  # sslrootcert, sslcert, sslkey: file paths, no secret

    def backend_url(self) -> str:
        """PULUMI_BACKEND_URL for this database: never a password (Pulumi stores the URL in clear)."""
        query = urllib.parse.urlencode({"sslmode": self.sslmode, **self.tls})
        user = urllib.parse.quote(self.role, safe="")
        return f"postgres://{user}@{self.host}:{self.port}/{urllib.parse.quote(self.database, safe='')}?{query}"

    def passfile_line(self, password: str) -> str:
        """The libpq passfile line for this role and database (':' and '\\' escaped as libpq reads them)."""
        def esc(value: str) -> str:
            return value.replace("\\", "\\\\").replace(":", "\\:")
        return ":".join(esc(v) for v in (self.host, str(self.port), self.database, self.role, password))


def write_passfile(path: Path, state: StateDb, password: str) -> None:
    """Add (or replace) the role's line in a libpq passfile, mode 0600: lib/pq and libpq ignore a looser one."""
    prefix = state.passfile_line("")  # host:port:db:role: — the line's key
    lines = [line for line in (path.read_text().splitlines() if path.exists() else []) if not line.startswith(prefix)]
    lines.append(state.passfile_line(password))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)


def ensure(admin: psycopg.Connection, state: StateDb, password: str | None) -> Iterator[str]:
    """Create or bring up to date the role and database of the shared state, one line per step (idempotent).
    `admin` is a connection that may create roles and databases (autocommit: CREATE DATABASE needs it)."""
    role, database = sql.Identifier(state.role), sql.Identifier(state.database)
    exists = one(admin.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (state.role,)))[0]
    if not exists:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
    admin.execute(sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(role))
    if password is not None:
        # Hashed here, so the clear password is in no statement the server could log.
        verifier = admin.pgconn.encrypt_password(password.encode(), state.role.encode(), b"scram-sha-256")
        admin.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, sql.Literal(verifier.decode())))
    yield f"role {state.role} {'created' if not exists else 'exists'} (login{', password set' if password else ''})"
    exists = one(admin.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (state.database,)))[0]
    if not exists:
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(database, role))
    admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(database, role))
    # Only the state role (and superusers) may connect: the state holds every stack's outputs.
    admin.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))
    admin.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(database, role))
    yield (f"database {state.database} {'created' if not exists else 'exists'} (owner {state.role}; PUBLIC may "
           f"not connect; Pulumi creates its table pulumi_state on first login)")
