"""Measure 8: the state backend's cost. The DIY backends rewrite the whole state after every step (only
Pulumi Cloud journals), so a team's shared state in PostgreSQL (README, "Teams and fleets") costs what
each rewrite costs there: a gated `pulumi up` adding 16 and 160 constraints, and a no-change gated `up`,
with the file backend and with the postgres backend on the same cluster, side by side."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import yaml
from psycopg import sql

from bench import scale
from fkguard.stack import backend as state_backend
from fkguard.stack.settings import ConnectionSettings
from fkguard_testing.scratch import PROJECT, ScratchProject

BACKENDS = ("file", "postgres")


def _admin(port: int, database: str = "postgres") -> psycopg.Connection:
    """The local cluster's superuser through its socket folder, where scripts/pg.sh's clusters trust it."""
    datadir = Path(os.environ.get("FKGUARD_PGDATA") or PROJECT / ".pgdata").resolve()
    return psycopg.connect(host=str(datadir), port=port, dbname=database, user="postgres", autocommit=True)


def _timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def _state_bytes(project: ScratchProject, backend: str, state: state_backend.StateDb, port: int) -> int:
    if backend == "file":
        return project.state_file("local").stat().st_size
    with _admin(port, state.database) as conn:
        row = conn.execute("SELECT octet_length((data->>'data')::text) / 4 * 3 FROM pulumi_state "
                           "WHERE key LIKE '%/.pulumi/stacks/fkguard/local.json'").fetchone()
    return int(row[0]) if row else 0


def run(settings: ConnectionSettings, folder: Path, port: int, database: str, sizes: list[int],
        progress: Callable[[str], None]) -> list[dict]:
    name = f"pulumi_state_bench_{uuid.uuid4().hex[:6]}"
    state = state_backend.StateDb(settings.host, port, name, name, "disable")
    password = uuid.uuid4().hex
    with _admin(port) as admin:
        list(state_backend.ensure(admin, state, password))
    passfile = folder / "pgpass-backends"
    state_backend.write_passfile(passfile, state, password)
    projects = {backend: ScratchProject.create(folder / f"backend-{backend}", port, database) for backend in BACKENDS}
    projects["postgres"].env.update({"PULUMI_BACKEND_URL": state.backend_url(), "PGPASSFILE": str(passfile)})
    projects["postgres"].run("stack", "init", "local", "--secrets-provider", "passphrase")
    projects["postgres"].run("config", "set", "postgresql:database", database, "--stack", "local")
    results = []
    try:
        for n in sizes:
            catalog = None
            if n != 16:  # 16 is the built-in catalog; any other size is synthetic (bench/scale.py's tables)
                entries = scale.synthetic(settings, n)
                catalog = yaml.safe_dump({"constraints": entries})
            for backend, project in projects.items():
                progress(f"state backend {backend}: gated up of {n} constraints")
                if catalog:
                    (project.root / "backends.yaml").write_text(catalog)
                    project.run("config", "set", "fkguard:catalog", "backends.yaml", "--stack", "local")
                r = {"n": n, "backend": backend}
                r["gated_up_add_s"] = _timed(lambda p=project: p.gated("up", "--yes"))
                r["gated_up_nochange_s"] = _timed(lambda p=project: p.gated("up", "--yes"))
                r["state_bytes"] = _state_bytes(project, backend, state, port)
                project.run("destroy", "--stack", "local", "--yes", "--skip-plugin-pre-install")
                if catalog:
                    project.run("config", "rm", "fkguard:catalog", "--stack", "local")
                results.append(r)
            if catalog:
                with settings.connect() as conn:
                    conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(scale.SCHEMA)))
    finally:
        with _admin(port) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
    return results
