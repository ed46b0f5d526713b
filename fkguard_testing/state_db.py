"""The team setup in tests: a shared Pulumi state database on the test cluster (made by fkguard's own
state_backend, as `fkguard state-db` makes it), and checkouts of the project that use it through
PULUMI_BACKEND_URL and a passfile, the way two engineers or CI would."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from fkguard.stack import backend as state_backend
from fkguard.stack.settings import ConnectionSettings
from fkguard_testing import processes
from fkguard_testing.fixtures import TEST_PG_PORT, TEST_PGDATA
from fkguard_testing.scratch import ScratchProject

# Only in the state role's passfile: the tests look for it everywhere Pulumi writes.
STATE_PASSWORD = "state-Pw:only-in-the-passfile"


def admin_connection(database: str = "postgres") -> psycopg.Connection:
    """The test cluster's superuser, through its socket folder (trusted there): the administrator of the state."""
    return psycopg.connect(host=str(TEST_PGDATA.resolve()), port=TEST_PG_PORT, dbname=database, user="postgres",
                           autocommit=True)


@dataclass
class SharedState:
    state: state_backend.StateDb
    passfile: Path
    folder: Path

    @property
    def env(self) -> dict[str, str]:
        """What a team member exports: the URL (no password) and the passfile."""
        return {"PULUMI_BACKEND_URL": self.state.backend_url(), "PGPASSFILE": str(self.passfile)}

    def checkout(self, name: str, project: ScratchProject | None = None) -> ScratchProject:
        """A checkout of the project using the shared state (the `project` copy itself, or a new one)."""
        copy = project or ScratchProject.create(self.folder / name, self.state.port)
        copy.env.update(self.env)
        return copy

    def rows(self) -> dict[str, bytes]:
        """Every object of the state table, decoded (the backend stores base64 in JSON)."""
        with admin_connection(self.state.database) as conn:
            return {key: base64.b64decode(data["data"]) for key, data in conn.execute("SELECT key, data FROM pulumi_state")}

    def lock_rows(self) -> list[str]:
        return [key for key in self.rows() if "/.pulumi/locks/" in key]


@pytest.fixture()
def shared_state(tmp_path: Path, pg: ConnectionSettings) -> Iterator[SharedState]:
    """A state database and role of this test's own, dropped at its end, with the role's passfile."""
    name = f"pulumi_state_{uuid.uuid4().hex[:8]}"
    state = state_backend.StateDb(pg.host, pg.port, name, name, "disable")
    with admin_connection() as admin:
        list(state_backend.ensure(admin, state, STATE_PASSWORD))
    passfile = tmp_path / "pgpass"
    state_backend.write_passfile(passfile, state, STATE_PASSWORD)
    yield SharedState(state, passfile, tmp_path)
    with admin_connection() as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture()
def second_checkout(shared_state: SharedState, tmp_path: Path) -> Iterator[ScratchProject]:
    """Another engineer's checkout (the test's `project` is the first); nothing it started outlives the test."""
    copy = shared_state.checkout("second")
    yield copy
    left = processes.reap(copy.root)
    assert not left, f"processes started for the second checkout outlived the test (killed now): {left}"
