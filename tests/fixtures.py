"""Fixtures: a real PostgreSQL started by scripts/pg.sh, and a copy of the Pulumi project with its
own state folder, driven through the real pulumi CLI. Nothing here skips: a missing CLI or
database is a failure that says how to get it."""

from __future__ import annotations

import os
import shutil
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from fkguard.settings import ConnectionSettings

PROJECT = Path(__file__).resolve().parent.parent
PG_SCRIPT = PROJECT / "scripts" / "pg.sh"
# One port per checkout, so two clones can run their suites side by side on one machine.
TEST_PG_PORT = int(os.environ.get("FKGUARD_TEST_PG_PORT") or 56000 + zlib.crc32(str(PROJECT).encode()) % 1000)
TEST_PGDATA = PROJECT / ".pgdata-test"


def local_env() -> dict[str, str]:
    """The throwaway local values from scripts/local.env, as the scripts see them."""
    out = subprocess.run(
        ["bash", "-c", f"set -a && . {PROJECT / 'scripts' / 'local.env'} && env"],
        capture_output=True, text=True, check=True, env={"PATH": os.environ["PATH"]},
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if line.startswith(("FKGUARD_", "PULUMI_")))


def pg_script(*args: str, port: int = TEST_PG_PORT, datadir: Path = TEST_PGDATA,
              check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FKGUARD_PGDATA": str(datadir), "FKGUARD_PG_PORT": str(port)}
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


def pulumi_bin() -> Path:
    path = PROJECT / ".tools" / "bin" / "pulumi"
    if not path.exists():
        raise AssertionError(f"{path} is missing: run make bootstrap (the end-to-end tests need the real CLI)")
    return path


@dataclass
class PulumiProject:
    """A copy of the project in a temporary folder, with its own state, run with the real CLI."""

    root: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True, timeout: float = 600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(pulumi_bin()), *args, "--non-interactive"],
            cwd=self.root, capture_output=True, text=True, env={**self.env, **(env or {})},
            timeout=timeout, check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def fkguard(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """The fkguard command, run from this project copy as a user would."""
        result = subprocess.run([str(PROJECT / ".venv" / "bin" / "fkguard"), *args], cwd=self.root, input=stdin,
                                capture_output=True, text=True, env=self.env, timeout=600, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"fkguard {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def gated(self, command: str, *args: str, stack: str = "local", check: bool = True):
        """pulumi <command> through the policy pack with the stack's policy config, as make does."""
        return self.run(command, "--stack", stack, "--skip-plugin-pre-install", "--policy-pack", "policies",
                        "--policy-pack-config", f"policy-config.{stack}.json", *args, check=check)

    def state_file(self, stack: str) -> Path:
        return self.root / ".pulumi-state" / ".pulumi" / "stacks" / "fkguard" / f"{stack}.json"


COPIED = ("Pulumi.yaml", "Pulumi.local.yaml", "Pulumi.staging.yaml", "Pulumi.production.yaml", "__main__.py",
          "policy-config.local.json", "policy-config.staging.json", "policy-config.production.json")
COPIED_DIRS = ("resources", "policies")


@pytest.fixture()
def project(tmp_path: Path, pg: ConnectionSettings) -> PulumiProject:
    """The local stack of a fresh project copy, pointed at the test cluster."""
    root = tmp_path / "project"
    root.mkdir()
    for name in COPIED:
        shutil.copy2(PROJECT / name, root / name)
    for name in COPIED_DIRS:
        if (PROJECT / name).exists():
            shutil.copytree(PROJECT / name, root / name, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    (root / ".venv").symlink_to(PROJECT / ".venv")
    if (PROJECT / "policies" / ".venv").exists():
        (root / "policies" / ".venv").symlink_to(PROJECT / "policies" / ".venv")
    (root / ".pulumi-state").mkdir()
    values = local_env()
    env = {
        **os.environ,
        "PATH": f"{pulumi_bin().parent}:{PROJECT / '.venv' / 'bin'}:{os.environ['PATH']}",
        "PULUMI_HOME": str(tmp_path / "pulumi-home"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_CONFIG_PASSPHRASE": values["PULUMI_CONFIG_PASSPHRASE"],
    }
    env.pop("PULUMI_BACKEND_URL", None)
    proj = PulumiProject(root, env)
    proj.run("stack", "init", "local", "--secrets-provider", "passphrase")
    proj.run("config", "set", "postgresql:port", str(pg.port), "--stack", "local")
    return proj


def as_superuser(statement: str) -> str:
    """Run SQL as the cluster's superuser (what only an administrator may do, e.g. disable triggers)."""
    return pg_script("psql", "-v", "ON_ERROR_STOP=1", "-c", statement).stdout
