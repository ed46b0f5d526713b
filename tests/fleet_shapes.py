"""A fleet for the tests and the timings of `fkguard fleet`: N databases of one small schema of our own
(depots, couriers, parcels), each the database of one stack `test-fleet-<n>` of a scratch project."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import yaml
from psycopg import sql

from fkguard.resource_properties import RESOURCE_TYPE
from fkguard.stack.settings import ConnectionSettings
from fkguard_testing.fixtures import as_superuser
from fkguard_testing.scratch import ScratchProject

SCHEMA = """
CREATE TABLE depot (id int PRIMARY KEY, city text NOT NULL);
CREATE TABLE courier (id int PRIMARY KEY, depot_id int NOT NULL, name text NOT NULL);
CREATE TABLE parcel (id bigint PRIMARY KEY, depot_id int NOT NULL, courier_id int, weight_g int NOT NULL);
INSERT INTO depot SELECT g, 'city ' || g FROM generate_series(1, 20) g;
INSERT INTO courier SELECT g, 1 + g % 20, 'courier ' || g FROM generate_series(1, 200) g;
INSERT INTO parcel SELECT g, 1 + g % 20, CASE WHEN g % 10 = 0 THEN NULL ELSE 1 + g % 200 END, 100 + g % 5000
    FROM generate_series(1, 5000) g;
"""
CATALOG = [
    {"name": "fk_courier_depot", "tier": "critical", "table": "public.courier", "columns": ["depot_id"],
     "references": "public.depot", "referenced_columns": ["id"], "on_delete": "RESTRICT"},
    {"name": "fk_parcel_depot", "tier": "high", "table": "public.parcel", "columns": ["depot_id"],
     "references": "public.depot", "referenced_columns": ["id"], "on_delete": "RESTRICT"},
    {"name": "fk_parcel_courier", "tier": "high", "table": "public.parcel", "columns": ["courier_id"],
     "references": "public.courier", "referenced_columns": ["id"], "on_delete": "SET NULL"},
]
NAMES = sorted(e["name"] for e in CATALOG)
CATALOG_FILE = "fleet-catalog.yaml"


def stack_name(n: int) -> str:
    return f"test-fleet-{n}"


def database_name(n: int) -> str:
    return f"fleet_e2e_{n}"


def create_databases(admin: ConnectionSettings, count: int, orphans: dict[int, int]) -> list[ConnectionSettings]:
    """`count` databases owned by the test user, each with the schema; orphans: database number -> parcels
    whose courier does not exist."""
    made = []
    drop_databases(count)
    for n in range(1, count + 1):  # the test role may not create databases: the cluster's superuser does
        as_superuser(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(database_name(n)), sql.Identifier(admin.username)).as_string(None))
    for n in range(1, count + 1):
        target = dataclasses.replace(admin, database=database_name(n))
        with target.connect() as conn:
            conn.execute(SCHEMA)
            if orphans.get(n):
                conn.execute("UPDATE parcel SET courier_id = 9000 + id WHERE id <= %s", (orphans[n],))
        made.append(target)
    return made


def drop_databases(count: int) -> None:
    for n in range(1, count + 1):
        as_superuser(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(database_name(n))).as_string(None))


def add_stacks(project: ScratchProject, count: int) -> list[str]:
    """Stacks test-fleet-1..count beside the copy's local stack, each on its own database with the fleet
    catalog validated in one up; the local stack is selected again afterwards, as it was."""
    (project.root / CATALOG_FILE).write_text(yaml.safe_dump({"constraints": CATALOG}, sort_keys=False))
    local = yaml.safe_load((project.root / "Pulumi.local.yaml").read_text())
    names = []
    for n in range(1, count + 1):
        name = stack_name(n)
        # local's file, salt and encrypted password included (the same passphrase), with its own database
        config = {**local["config"], "postgresql:database": database_name(n), "fkguard:catalog": CATALOG_FILE,
                  "fkguard:validateTiers": "all"}
        (project.root / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({**local, "config": config}))
        shutil.copy2(project.root / "policy-config.local.json", project.root / f"policy-config.{name}.json")
        project.run("stack", "init", name, "--secrets-provider", "passphrase")
        names.append(name)
    project.run("stack", "select", "local")
    return names


def remove_stacks(project: ScratchProject, names: list[str]) -> None:
    for name in names:
        project.run("stack", "rm", name, "--force", "--yes", check=False)


def recorded(project: ScratchProject, stack: str) -> dict[str, str]:
    """The stack's foreign keys and their state, from pulumi stack export itself."""
    exported = json.loads(project.run("stack", "export", "--stack", stack).stdout)
    return {r["outputs"]["constraintName"]: r["outputs"]["state"] for r in exported["deployment"].get("resources") or []
            if r["type"] == RESOURCE_TYPE}


def in_database(target: ConnectionSettings) -> dict[str, bool]:
    """conname -> convalidated of the database's foreign keys, from pg_constraint."""
    with target.connect() as conn:
        return dict(conn.execute("SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f'").fetchall())


def workspace_files(project: ScratchProject) -> dict[str, bytes]:
    """Every file of PULUMI_HOME/workspaces (where pulumi stack select writes the selected stack)."""
    folder = Path(project.env["PULUMI_HOME"]) / "workspaces"
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*"))}
