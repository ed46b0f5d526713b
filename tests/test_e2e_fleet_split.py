"""One database's catalog split by schema across two stacks named as users name theirs (`qa-a` owns s1, `qa-b`
owns s2, each made by `fkguard init` with a passphrase of the user's own, not the public one), rolled out by
`fkguard fleet up` in one wave, two at a time, each through the policy gate. Two stacks owning one key are refused
before anything runs; an orphan in s2 stops qa-b alone; each key's COMMENT names its stack; `fkguard status` of a
split stack shows its own keys only; a rollback of qa-b leaves qa-a's keys as they were (the same constraints)."""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Iterator

import psycopg
import pytest
import yaml
from psycopg import sql

from fkguard import ownership
from fkguard.stack import identity
from fkguard_testing.fixtures import pg_script
from fkguard_testing.scratch import ScratchProject

DATABASE = "splitdb"
STACKS = ("qa-a", "qa-b")
SCHEMAS = {"qa-a": "s1", "qa-b": "s2"}
CATALOG = "split-keys.yaml"
FLEET = {"parallel": 2, "waves": [{"name": "split", "stacks": list(STACKS)}]}


def keys_of(schema: str) -> list[dict]:
    return [{"name": f"fk_{schema}_c_p", "tier": "critical", "table": f"{schema}.c", "columns": ["p_id"],
             "references": f"{schema}.p", "referenced_columns": ["id"], "on_delete": "RESTRICT"},
            {"name": f"fk_{schema}_d_c", "tier": "high", "table": f"{schema}.d", "columns": ["c_id"],
             "references": f"{schema}.c", "referenced_columns": ["id"], "on_delete": "CASCADE"}]


@pytest.fixture()
def splitdb(pg) -> Iterator[psycopg.Connection]:
    """s1 and s2, each p(id) <- c(p_id) <- d(c_id), 100 rows each."""
    for statement in (f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", f"CREATE DATABASE {DATABASE} OWNER {pg.username}"):
        pg_script("psql", "-d", "postgres", "-c", statement)
    with dataclasses.replace(pg, database=DATABASE).connect() as conn:
        conn.autocommit = True
        for schema in ("s1", "s2"):
            conn.execute(sql.SQL(
                "CREATE SCHEMA {s}; CREATE TABLE {p} (id int PRIMARY KEY); CREATE TABLE {c} (id int PRIMARY KEY, "
                "p_id int); CREATE TABLE {d} (id int PRIMARY KEY, c_id int); INSERT INTO {p} SELECT generate_series(1, "
                "100); INSERT INTO {c} SELECT g, g FROM generate_series(1, 100) g; INSERT INTO {d} SELECT g, g FROM "
                "generate_series(1, 100) g").format(s=sql.Identifier(schema), p=sql.Identifier(schema, "p"),
                                                     c=sql.Identifier(schema, "c"), d=sql.Identifier(schema, "d")))
        yield conn
    pg_script("psql", "-d", "postgres", "-c", f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


@pytest.fixture()
def user(project, pg, splitdb, tmp_path) -> Iterator[ScratchProject]:
    """The project copy as its user runs it: a passphrase file of the user's own (0600; a shell holds one, so the
    fleet's stacks share it: docs/fleet.md, Secrets), the database password in QA_DB_PASSWORD. Both stacks made
    by fkguard init on the same database and catalog; whatever is left of them is destroyed and removed."""
    passphrase = tmp_path / "qa-passphrase"
    passphrase.write_text(secrets.token_urlsafe(24) + "\n")
    passphrase.chmod(0o600)
    me = project.as_user(PULUMI_CONFIG_PASSPHRASE_FILE=str(passphrase), QA_DB_PASSWORD=pg.password)
    (me.root / CATALOG).write_text(yaml.safe_dump({"constraints": keys_of("s1") + keys_of("s2")}, sort_keys=False))
    (me.root / "fleet.yaml").write_text(yaml.safe_dump(FLEET))
    made: list[str] = []
    try:
        for stack in STACKS:
            me.fkguard("init", stack, "--host", "127.0.0.1", "--port", str(pg.port), "--database", DATABASE,
                       "--username", pg.username, "--password-env", "QA_DB_PASSWORD", "--sslmode", "disable",
                       "--catalog", CATALOG, "--policy-from", "local")
            made.append(stack)
            me.run("config", "set", "fkguard:validateTiers", "all", "--stack", stack)
        yield me
    finally:
        for stack in made:
            destroyed = me.run("destroy", "--stack", stack, "--yes", "--skip-plugin-pre-install", check=False)
            removed = me.run("stack", "rm", stack, "--yes", "--force", check=False)
            assert destroyed.returncode == 0 and removed.returncode == 0, destroyed.stderr + removed.stderr


def in_database(conn: psycopg.Connection) -> dict[str, tuple[int, bool, str | None]]:
    """conname -> (oid, convalidated, comment) of every foreign key."""
    return {name: (oid, valid, note) for name, oid, valid, note in conn.execute(
        "SELECT conname, oid::bigint, convalidated, obj_description(oid, 'pg_constraint') FROM pg_constraint "
        "WHERE contype = 'f'")}


def mark(stack: str) -> str:
    return ownership.MARK + stack


def test_two_stacks_split_one_database_by_schema_and_roll_out_in_parallel(user, splitdb):
    # Both own the whole catalog: refused before anything runs, naming both stacks and the database.
    refused = user.fkguard("fleet", "up", "-f", "fleet.yaml", check=False)
    assert (refused.returncode, refused.stdout) == (2, ""), refused.stderr
    assert refused.stderr.strip() == (
        f"fkguard fleet: stacks 'qa-a' and 'qa-b' both own fk_s1_c_p and 3 more of database "
        f"{identity.live(splitdb).describe()}: give each stack of one database its own part of the catalog with "
        f"fkguard:schemas or fkguard:tiers; nothing ran")
    for stack, schema in SCHEMAS.items():
        user.run("config", "set", "fkguard:schemas", schema, "--stack", stack)

    # An orphan in s2: the gate stops qa-b at its preview; qa-a, beside it, adds and validates its own.
    splitdb.execute("INSERT INTO s2.c VALUES (1000, 999)")
    first = user.fkguard("fleet", "up", "-f", "fleet.yaml", "--json", check=False)
    assert first.returncode == 1, first.stderr
    assert "fleet: wave split: 2 stacks, 2 at a time" in first.stderr
    by_stack = {s["stack"]: s for s in json.loads(first.stdout)["stacks"]}
    assert (by_stack["qa-a"]["result"], by_stack["qa-a"]["added"], by_stack["qa-a"]["validated"]) == ("ok", 2, 2)
    assert (by_stack["qa-b"]["result"], by_stack["qa-b"]["orphans_blocking"]) == ("failed", {"fk_s2_c_p": 1})
    assert {n: (v, c) for n, (_, v, c) in in_database(splitdb).items()} == {
        "fk_s1_c_p": (True, mark("qa-a")), "fk_s1_d_c": (True, mark("qa-a"))}

    # qa-b's own remediation, then the fleet again: qa-a has nothing to do, qa-b adds and validates s2's keys.
    fixed = user.fkguard("remediate", "-s", "qa-b", "--constraint", "fk_s2_c_p", "--action", "delete", "--yes")
    assert "1 orphan rows of s2.c" in fixed.stdout, fixed.stdout
    second = json.loads(user.fkguard("fleet", "up", "-f", "fleet.yaml", "--json").stdout)
    assert {s["stack"]: (s["result"], s["added"], s["validated"]) for s in second["stacks"]} == {
        "qa-a": ("ok", 0, 0), "qa-b": ("ok", 2, 2)}
    before = in_database(splitdb)
    assert {n: (v, c) for n, (_, v, c) in before.items()} == {
        "fk_s1_c_p": (True, mark("qa-a")), "fk_s1_d_c": (True, mark("qa-a")),
        "fk_s2_c_p": (True, mark("qa-b")), "fk_s2_d_c": (True, mark("qa-b"))}

    # Each stack's status, audit and the fleet's status speak of its own keys: none reported missing.
    status = json.loads(user.fkguard("status", "-s", "qa-a", "--json").stdout)
    assert [(r["constraint"], r["database"], r["stack"], r["drift"]) for r in status] == [
        ("fk_s1_c_p", "validated", "validated", False), ("fk_s1_d_c", "validated", "validated", False)]
    audit = user.fkguard("audit", "-s", "qa-b")
    assert "qa-b: 0 orphans in 0 of 2 relationships" in audit.stdout, audit.stdout
    fleet_status = json.loads(user.fkguard("fleet", "status", "-f", "fleet.yaml", "--json").stdout)
    assert {s["stack"]: (s["validated"], s["absent"], s["in_state"], s["drift"]) for s in fleet_status["stacks"]} == {
        stack: (2, 0, {"validated": 2}, []) for stack in STACKS}

    # A rollback of qa-b: another stack's key is refused by name; qa-b's own go, qa-a's stay the same constraints.
    other = user.fkguard("rollback", "-s", "qa-b", "--constraint", "fk_s1_c_p", "--yes", check=False)
    assert other.returncode == 2 and other.stderr.strip() == (
        "fkguard rollback: fk_s1_c_p is not stack qa-b's: its fkguard:schemas / fkguard:tiers (schemas s2) leave it to "
        "another stack of the catalog; run this against the stack that owns it"), other.stderr
    rolled = user.fkguard("rollback", "-s", "qa-b", "--tier", "critical", "--tier", "high", "--yes")
    assert "::fk_s2_c_p" in rolled.stdout and "::fk_s1_" not in rolled.stdout, rolled.stdout
    assert in_database(splitdb) == {n: before[n] for n in ("fk_s1_c_p", "fk_s1_d_c")}
    after = json.loads(user.fkguard("status", "-s", "qa-a", "--json").stdout)
    assert [(r["database"], r["stack"]) for r in after] == [("validated", "validated")] * 2
