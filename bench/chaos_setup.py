"""The chaos campaign's world: a PostgreSQL cluster of its own (scripts/pg.sh, its port an offset from the
test cluster's, as fkguard_testing.tls picks one), a project copy with a stack named as users name theirs
(`chaos`, its own passphrase file, made by `fkguard init`), the APMS data set with a partitioned table of
the campaign's own beside it, and the reset that puts all of it back before each run."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
import yaml
from psycopg import sql

from fkguard.catalog import load_catalog
from fkguard.stack.settings import ConnectionSettings
from fkguard_testing.fixtures import TEST_PG_PORT, TEST_PGDATA
from fkguard_testing.scratch import PROJECT, ScratchProject, local_env

STACK = "chaos"
PORT = TEST_PG_PORT + 800  # clear of the TLS cluster (+500), PgBouncer (+600), the standby (+700), the next checkout's
PGDATA = TEST_PGDATA.with_name(TEST_PGDATA.name + "-chaos")
CATALOG_FILE = "chaos-keys.yaml"
GATE = ("--skip-plugin-pre-install", "--policy-pack", "policies", "--policy-pack-config", f"policy-config.{STACK}.json")

# A range-partitioned table with a list-partitioned partition (three leaves) whose key references the APMS
# workspaces: the per-leaf add and the parent's attach on PostgreSQL 15 (docs/partitions.md). Its PARTITIONED_ROWS
# make its VALIDATE and index builds last tens of milliseconds, where a small fkguard:statementTimeout cuts them.
PARTITIONED_ROWS = 200_000
PARTITIONED = """
DROP TABLE IF EXISTS public.stage_events;
CREATE TABLE public.stage_events (id bigint, workspace_id text, day date NOT NULL, region text NOT NULL)
    PARTITION BY RANGE (day);
CREATE TABLE public.stage_events_2024 PARTITION OF public.stage_events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE public.stage_events_2025 PARTITION OF public.stage_events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')
    PARTITION BY LIST (region);
CREATE TABLE public.stage_events_2025_eu PARTITION OF public.stage_events_2025 FOR VALUES IN ('eu');
CREATE TABLE public.stage_events_2025_us PARTITION OF public.stage_events_2025 FOR VALUES IN ('us');
"""
FILL = """
INSERT INTO public.stage_events  -- workspace ids as fkguard.apms.generate makes them
    SELECT g, md5('ws:' || (1 + g %% 20))::uuid::text, date '2024-06-01' + (g %% 400),
           CASE WHEN g %% 3 = 0 THEN 'eu' ELSE 'us' END
    FROM generate_series(1, %(rows)s) g"""
PARTITIONED_KEY = {"name": "fk_stage_events_workspace", "tier": "low", "table": "public.stage_events",
                   "columns": ["workspace_id"], "references": "public.workspaces", "referenced_columns": ["id"],
                   "on_delete": "RESTRICT"}


def pg(*args: str, fsync: str = "on", check: bool = True) -> subprocess.CompletedProcess[str]:
    """scripts/pg.sh on the campaign's cluster."""
    env = {**os.environ, "FKGUARD_PGDATA": str(PGDATA), "FKGUARD_PG_PORT": str(PORT), "FKGUARD_PG_FSYNC": fsync}
    result = subprocess.run([str(PROJECT / "scripts" / "pg.sh"), *args], capture_output=True, text=True, env=env,
                            check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"scripts/pg.sh {' '.join(args)} failed:\n{result.stderr}")
    return result


def settings() -> ConnectionSettings:
    values = local_env()
    return ConnectionSettings(host="127.0.0.1", port=PORT, database=values["FKGUARD_PG_DB"],
                              username=values["FKGUARD_PG_USER"], password=values["FKGUARD_LOCAL_DB_PASSWORD"],
                              sslmode="disable")


@dataclass
class World:
    """What every run of a campaign shares."""

    user: ScratchProject  # the copy as the user of stack `chaos` runs it (scripts/bin/pulumi, own passphrase)
    conn: ConnectionSettings
    empty_state: Path  # the stack's export before its first up: the reset imports it
    baseline_indexes: frozenset[str]  # the schema's own indexes: any other must be fkguard's, and valid
    checkpoints: str  # on | off | "" (as scripts/env.sh's pulumi runs)
    scale: int  # rows in the largest APMS table

    @property
    def catalog(self):
        return load_catalog(self.user.root / CATALOG_FILE)


def write_catalog(root: Path) -> None:
    """The APMS catalog (every key, each with its supporting index) and the partitioned table's key."""
    apms = yaml.safe_load((PROJECT / "fkguard" / "apms" / "catalog.yaml").read_text())
    (root / CATALOG_FILE).write_text(yaml.safe_dump({"constraints": [*apms["constraints"], PARTITIONED_KEY]},
                                                     sort_keys=False))


def make_world(folder: Path, scale: int, checkpoints: str) -> World:
    """Start the cluster, copy the project, make the stack `chaos` and fill its database."""
    pg("destroy")  # what an interrupted campaign left
    pg("start")
    conn = settings()
    project = ScratchProject.create(folder, PORT)
    passphrase = folder / "chaos-passphrase"
    passphrase.write_text(secrets.token_urlsafe(24) + "\n")
    passphrase.chmod(0o600)
    env = {"PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase), "CHAOS_DB_PASSWORD": conn.password}
    if checkpoints:
        env["PULUMI_SKIP_CHECKPOINTS"] = "false" if checkpoints == "on" else "true"
    user = project.as_user(**env)
    write_catalog(user.root)
    user.fkguard("init", STACK, "--host", conn.host, "--port", str(PORT), "--database", conn.database,
                 "--username", conn.username, "--password-env", "CHAOS_DB_PASSWORD", "--sslmode", "disable",
                 "--catalog", CATALOG_FILE, "--policy-from", "local")
    for key, value in (("fkguard:lockTimeout", "200ms"), ("fkguard:lockRetryBudget", "3s")):
        user.run("config", "set", key, value, "--stack", STACK)
    user.fkguard("seed", "-s", STACK, "--scale", str(scale))
    with conn.connect() as db:
        db.execute(PARTITIONED)
        db.execute(FILL, {"rows": PARTITIONED_ROWS})
        db.execute("ANALYZE")
        baseline = frozenset(indexes(db))
    empty = folder / "empty-state.json"
    empty.write_text(user.run("stack", "export", "--stack", STACK).stdout)
    return World(user, conn, empty, baseline, checkpoints, scale)


def indexes(db: psycopg.Connection) -> dict[str, tuple[bool, str | None, bool]]:
    """schema.index -> (valid, comment, attached to a partitioned index) of every index in the public schema."""
    return {name: (valid, comment, attached) for name, valid, comment, attached in db.execute(
        "SELECT 'public.' || c.relname, i.indisvalid, obj_description(i.indexrelid, 'pg_class'), "
        "       EXISTS (SELECT FROM pg_inherits h WHERE h.inhrelid = i.indexrelid) "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relnamespace = 'public'::regnamespace")}


def reset(world: World) -> None:
    """Before each run: no catalog key, no index the schema did not have, the stack as before its first up."""
    with world.conn.connect() as db:
        for fk in world.catalog:
            db.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
                sql.Identifier(fk.table.schema, fk.table.name), sql.Identifier(fk.name)))
        # A partitioned index takes its attached partitions' with it; those cannot be dropped alone.
        while extra := [n for n, (_, _, attached) in indexes(db).items()
                        if n not in world.baseline_indexes and not attached]:
            for name in extra:
                db.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(*name.split(".", 1))))
    if locked(world.user.root):  # a run that did not converge may have left its lock
        world.user.run("cancel", "--yes", "--stack", STACK, check=False)
    world.user.run("stack", "import", "--stack", STACK, "--force", "--file", str(world.empty_state))
    for key in ("fkguard:validateTiers", "fkguard:statementTimeout"):
        world.user.run("config", "rm", key, "--stack", STACK)


def locked(root: Path) -> bool:
    locks = root / ".pulumi-state" / ".pulumi" / "locks"
    return locks.exists() and any(p.is_file() for p in locks.rglob("*"))


def destroy() -> None:
    """The cluster goes with the campaign."""
    pg("destroy")


def stack_json(world: World) -> dict:
    return json.loads(world.user.run("stack", "export", "--stack", STACK).stdout)
