"""Fixtures for tests/ and policies/ (registered by the root conftest.py): a real PostgreSQL
started by scripts/pg.sh, and a copy of the Pulumi project with its own state folder, driven
through the real pulumi CLI. Nothing here skips: a missing CLI or database is a failure that says
how to get it."""

from __future__ import annotations

import os
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fkguard.stack.settings import ConnectionSettings
from fkguard_testing import processes
from fkguard_testing.scratch import PROJECT, ScratchProject, local_env, pulumi_bin  # noqa: F401  (tests import them)

PG_SCRIPT = PROJECT / "scripts" / "pg.sh"
# The server version under test (make test PG=17); unset is Debian's 15, as scripts/pg.sh.
PG_VERSION = os.environ.get("FKGUARD_PG_VERSION") or "15"
# One port and folder per checkout and version, so two clones (or two versions of one) can run
# their suites side by side on one machine; 15 keeps the names it always had.
_key = str(PROJECT) if PG_VERSION == "15" else f"{PROJECT}:{PG_VERSION}"
_offset = zlib.crc32(_key.encode()) % 1000
# Under pytest-xdist (make test runs it with -n) each worker (gw0, gw1, ...) has a cluster of its own, so
# the tests of one worker never see another's tables, roles or stacks. Its port is below Linux's ephemeral
# range (32768 and up), where a busy machine's outgoing connections can hold a port for a moment.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_worker = int(WORKER.removeprefix("gw")) + 1 if WORKER.startswith("gw") else 0
_serial_port = int(os.environ.get("FKGUARD_TEST_PG_PORT") or 56000 + _offset)
TEST_PG_PORT = 29000 + 1000 * _worker + _offset if _worker else _serial_port  # gw0: 30000 + offset, gw1: 31000 + ...
_folder = ".pgdata-test" if PG_VERSION == "15" else f".pgdata-test-{PG_VERSION}"
TEST_PGDATA = PROJECT / (f"{_folder}-{WORKER}" if _worker else _folder)


def pg_script(*args: str, port: int = TEST_PG_PORT, datadir: Path = TEST_PGDATA,
              check: bool = True) -> subprocess.CompletedProcess[str]:
    # fsync off: a test cluster is thrown away after a crash anyway (make bench keeps it on)
    env = {**os.environ, "FKGUARD_PGDATA": str(datadir), "FKGUARD_PG_PORT": str(port), "FKGUARD_PG_FSYNC": "off"}
    result = subprocess.run([str(PG_SCRIPT), *args], capture_output=True, text=True, env=env, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"scripts/pg.sh {' '.join(args)} failed:\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def pg() -> Iterator[ConnectionSettings]:
    """The test cluster (its own folder and port, so the demo's database is never touched)."""
    pg_script("start")
    values = local_env()
    # A fresh database each session: what an earlier run left behind cannot leak into this one.
    for statement in (f"DROP DATABASE IF EXISTS {values['FKGUARD_PG_DB']} WITH (FORCE)",
                      f"CREATE DATABASE {values['FKGUARD_PG_DB']} OWNER {values['FKGUARD_PG_USER']}"):
        pg_script("psql", "-d", "postgres", "-c", statement)
    yield ConnectionSettings(
        host="127.0.0.1",
        port=TEST_PG_PORT,
        database=values["FKGUARD_PG_DB"],
        username=values["FKGUARD_PG_USER"],
        password=values["FKGUARD_LOCAL_DB_PASSWORD"],
        sslmode="disable",
    )
    pg_script("stop")


@pytest.fixture()
def conn(pg: ConnectionSettings) -> Iterator[psycopg.Connection]:
    with pg.connect() as connection:
        yield connection


@pytest.fixture()
def project(tmp_path: Path, pg: ConnectionSettings) -> Iterator[ScratchProject]:
    """The local stack of a fresh project copy, pointed at the test cluster; nothing it started outlives the test."""
    copy = ScratchProject.create(tmp_path, pg.port)
    yield copy
    left = processes.reap(copy.root)
    assert not left, f"processes started for the project copy outlived the test (killed now): {left}"


@pytest.fixture()
def provider(pg: ConnectionSettings) -> Iterator[object]:
    """The ForeignKeyConstraint provider, configured for the test cluster and called directly."""
    from pulumi.dynamic import ConfigureRequest  # here, so the policy pack's tests need no provider
    from pulumi.dynamic.config import Config

    from resources.foreign_key import ForeignKeyConstraintProvider

    raw = {"postgresql:host": pg.host, "postgresql:port": str(pg.port), "postgresql:database": pg.database,
           "postgresql:username": pg.username, "postgresql:password": pg.password, "postgresql:sslmode": "disable",
           "fkguard:lockTimeout": "500ms", "fkguard:lockRetryBudget": "3s"}
    p = ForeignKeyConstraintProvider()
    p.configure(ConfigureRequest(Config(raw, "fkguard")))
    yield p


def as_superuser(statement: str) -> str:
    """Run SQL as the cluster's superuser (what only an administrator may do, e.g. disable triggers)."""
    return pg_script("psql", "-v", "ON_ERROR_STOP=1", "-c", statement).stdout
