"""The user's path, end to end: a stack named as users name theirs (`qa`: not `local`, not `test-*`, so no
throwaway passphrase), with a passphrase file of its own, made by `fkguard init`, run through scripts/bin/pulumi
(the passphrase guard) as a user of `. scripts/env.sh` runs it. The other e2e tests use the `local` stack, which
the public passphrase opens; a crash of the policy pack on every real stack went unseen there (issue 21).

The catalog holds one constraint name on two tables (s1.c and s2.c, each with `fk_c_p`), so the same tests prove
that same-named keys roll out, validate and roll back one at a time, and that a stack from before the name was
shared keeps its key (the Pulumi alias) when the second one comes."""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import shutil
from collections.abc import Iterator

import psycopg
import pytest

from fkguard.resource_properties import RESOURCE_TYPE
from fkguard_testing import processes
from fkguard_testing.fixtures import PROJECT, pg_script
from fkguard_testing.scratch import ScratchProject

STACK = "qa"
DATABASE = "userpath"
PUBLIC_PASSPHRASE = "fkguard-local-passphrase"  # the README's, on purpose: what a shell from an older env.sh carried
REFUSED = "must not use the local stack's public passphrase"
S1_KEY = "{name: fk_c_p, tier: critical, table: s1.c, columns: [p_id], references: s1.p, referenced_columns: [id], " \
         "on_delete: RESTRICT}"
S2_KEY = "{name: fk_c_p, tier: high, table: s2.c, columns: [p_id], references: s2.p, referenced_columns: [id], " \
         "on_delete: RESTRICT}"
TWO_SCHEMAS = """
    CREATE SCHEMA s1; CREATE SCHEMA s2;
    CREATE TABLE s1.p (id int PRIMARY KEY); CREATE TABLE s1.c (id int PRIMARY KEY, p_id int);
    CREATE TABLE s2.p (id int PRIMARY KEY); CREATE TABLE s2.c (id int PRIMARY KEY, p_id int);
    INSERT INTO s1.p SELECT generate_series(1, 100); INSERT INTO s1.c SELECT g, g FROM generate_series(1, 100) g;
    INSERT INTO s2.p SELECT generate_series(1, 100); INSERT INTO s2.c SELECT g, g FROM generate_series(1, 100) g"""
GATE = ("--skip-plugin-pre-install", "--policy-pack", "policies", "--policy-pack-config", f"policy-config.{STACK}.json")


def write_catalog(project: ScratchProject, *entries: str) -> str:
    """The user's own catalog, in the project folder (README: Your own catalog)."""
    (project.root / "qa-keys.yaml").write_text("constraints:\n" + "".join(f"  - {e}\n" for e in entries))
    return "qa-keys.yaml"


@pytest.fixture()
def userdb(pg) -> Iterator[psycopg.Connection]:
    """A database of its own holding s1 and s2, each with p(id) and c(id, p_id) of 100 rows."""
    statements = (f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", f"CREATE DATABASE {DATABASE} OWNER {pg.username}")
    for statement in statements:
        pg_script("psql", "-d", "postgres", "-c", statement)
    with dataclasses.replace(pg, database=DATABASE).connect() as conn:
        conn.autocommit = True
        conn.execute(TWO_SCHEMAS)
        yield conn
    pg_script("psql", "-d", "postgres", "-c", f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


@pytest.fixture()
def user(project, pg, userdb, tmp_path) -> Iterator[ScratchProject]:
    """The project copy as the user of stack qa runs it: its own 0600 passphrase file, no PULUMI_CONFIG_PASSPHRASE,
    the database password in QA_DB_PASSWORD. Whatever the test leaves of the stack is destroyed and removed."""
    passphrase = tmp_path / "qa-passphrase"
    passphrase.write_text(secrets.token_urlsafe(24) + "\n")
    passphrase.chmod(0o600)
    me = project.as_user(PULUMI_CONFIG_PASSPHRASE_FILE=str(passphrase), QA_DB_PASSWORD=pg.password)
    assert "PULUMI_CONFIG_PASSPHRASE" not in me.env
    yield me
    if STACK in stack_names(me):
        destroyed = me.run("destroy", "--stack", STACK, "--yes", "--skip-plugin-pre-install", check=False)
        removed = me.run("stack", "rm", STACK, "--yes", "--force", check=False)
        assert destroyed.returncode == 0 and removed.returncode == 0, destroyed.stdout + destroyed.stderr + removed.stderr


def stack_names(project: ScratchProject) -> set[str]:
    return {s["name"] for s in json.loads(project.run("stack", "ls", "--json").stdout)}


def init(user: ScratchProject, pg, catalog: str) -> None:
    made = user.fkguard("init", STACK, "--host", "127.0.0.1", "--port", str(pg.port), "--database", DATABASE,
                        "--username", pg.username, "--password-env", "QA_DB_PASSWORD", "--sslmode", "disable",
                        "--catalog", catalog, "--policy-from", "local")
    assert "fkguard init: created stack qa (secrets: passphrase)" in made.stdout
    config = (user.root / f"Pulumi.{STACK}.yaml").read_text()
    assert "encryptionsalt:" in config and "postgresql:password:\n    secure: " in config
    assert pg.password not in config


def keys(conn: psycopg.Connection) -> dict[str, tuple[int, bool]]:
    """conrelid -> (oid, convalidated) of every fk_c_p."""
    return {table: (oid, valid) for table, oid, valid in conn.execute(
        "SELECT conrelid::regclass::text, oid::bigint, convalidated FROM pg_constraint "
        "WHERE contype = 'f' AND conname = 'fk_c_p'")}


def validated(conn: psycopg.Connection) -> dict[str, bool]:
    return {table: valid for table, (_, valid) in keys(conn).items()}


def constraint_resources(project: ScratchProject) -> set[str]:
    exported = json.loads(project.run("stack", "export", "--stack", STACK).stdout)
    return {r["urn"].rsplit("::", 1)[1] for r in exported["deployment"].get("resources") or []
            if r["type"] == RESOURCE_TYPE}


def no_crash(result) -> str:
    text = result.stdout + result.stderr
    assert "Exception" not in text and "Traceback" not in text, text
    return text


def test_a_named_stack_with_its_own_passphrase_file_walks_the_whole_rollout(user, pg, userdb):
    userdb.execute("INSERT INTO s1.c VALUES (1001, 998); INSERT INTO s2.c VALUES (1000, 999)")  # one orphan each
    init(user, pg, write_catalog(user, S1_KEY, S2_KEY))
    assert user.fkguard("status", "-s", STACK).returncode == 0

    refused = user.run("preview", "--stack", STACK, *GATE, check=False)
    text = no_crash(refused)
    assert refused.returncode != 0 and "orphan-gate" in refused.stdout, text
    for label in ("s1.c.fk_c_p", "s2.c.fk_c_p"):
        assert f"{label}: 1 rows of s{label[1]}.c have no parent in s{label[1]}.p" in refused.stdout, text

    audit = user.fkguard("audit", "-s", STACK, check=False)
    assert audit.returncode == 1 and "qa: 2 orphans in 2 of 2 relationships" in audit.stdout, audit.stdout
    fixed = user.fkguard("remediate", "-s", STACK, "--all", "--action", "delete", "--yes")
    assert "re-audit: no orphans left in the 2 relationships" in fixed.stdout

    no_crash(user.run("up", "--stack", STACK, "--yes", *GATE))
    assert validated(userdb) == {"s1.c": False, "s2.c": False}  # both added NOT VALID
    user.run("config", "set", "fkguard:validateTiers", "all", "--stack", STACK)
    no_crash(user.run("up", "--stack", STACK, "--yes", *GATE))
    assert validated(userdb) == {"s1.c": True, "s2.c": True}
    assert constraint_resources(user) == {"s1.c.fk_c_p", "s2.c.fk_c_p"}

    status = user.fkguard("status", "-s", STACK)
    assert "qa: 2 validated, 0 not valid, 0 absent in the database" in status.stdout
    assert re.search(r"^s2\.c\.fk_c_p +high +validated +validated +validated", status.stdout, re.M), status.stdout
    verify = user.fkguard("verify", "-s", STACK)
    assert re.search(r"^qa: (\d+) of \1 checks passed$", verify.stdout, re.M), verify.stdout
    monitor = user.fkguard("monitor", "-s", STACK, check=False)
    no_crash(monitor)
    verdict = re.search(r"^verdict: (\w+) ", monitor.stdout, re.M)
    assert verdict, monitor.stdout + monitor.stderr
    assert monitor.returncode == {"acceptable": 0, "investigate": 1, "rollback": 3}[verdict[1]], monitor.stdout

    # The same stack in a shell that carries the local stack's public passphrase: refused in one line, by the
    # guard before pulumi opens the stack, and by fkguard.
    public = user.as_user(PULUMI_CONFIG_PASSPHRASE=PUBLIC_PASSPHRASE)
    for result in (public.run("preview", "--stack", STACK, *GATE, check=False),
                   public.fkguard("status", "-s", STACK, check=False, env=public.env)):
        assert result.returncode == 2, result.stdout + result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and REFUSED in result.stderr, result.stderr
        assert "stack 'qa'" in result.stderr and not result.stdout.strip()

    rolled = user.fkguard("rollback", "-s", STACK, "--constraint", "s2.c.fk_c_p", "--yes")
    assert "ForeignKeyConstraint::s2.c.fk_c_p" in rolled.stdout and "::s1.c.fk_c_p" not in rolled.stdout, rolled.stdout
    assert validated(userdb) == {"s1.c": True}
    assert constraint_resources(user) == {"s1.c.fk_c_p"}

    user.run("destroy", "--stack", STACK, "--yes", "--skip-plugin-pre-install")
    assert keys(userdb) == {}
    user.run("stack", "rm", STACK, "--yes")
    assert STACK not in stack_names(user) and not (user.root / f"Pulumi.{STACK}.yaml").exists()


def test_a_stack_from_before_the_name_was_shared_keeps_its_key(user, pg, userdb):
    """A stack deployed when only s1.c had fk_c_p (resource `fk_c_p`); the catalog then gains s2.c's fk_c_p. The
    next `pulumi up` carries the resource over to `s1.c.fk_c_p` by alias: the same constraint, never dropped."""
    catalog = write_catalog(user, S1_KEY)
    init(user, pg, catalog)
    user.run("config", "set", "fkguard:validateTiers", "all", "--stack", STACK)
    user.run("up", "--stack", STACK, "--yes", *GATE)
    assert constraint_resources(user) == {"fk_c_p"}
    before = keys(userdb)
    assert list(before) == ["s1.c"] and before["s1.c"][1]

    write_catalog(user, S1_KEY, S2_KEY)
    upgraded = user.run("up", "--stack", STACK, "--yes", "--diff", *GATE)
    no_crash(upgraded)
    after = keys(userdb)
    assert after.get("s1.c") == before["s1.c"], upgraded.stdout  # the same oid, still validated: never dropped
    assert after["s2.c"][1]
    assert constraint_resources(user) == {"s1.c.fk_c_p", "s2.c.fk_c_p"}
    # What the update did to each constraint resource, as --diff shows it: only s2.c's key is new; s1.c's resource
    # never shows (unchanged), neither replaced nor deleted under either name. (The monitor baseline is replaced:
    # a tier added later takes a new one.)
    assert set(constraint_steps(upgraded.stdout)) == {("create", "s2.c.fk_c_p")}, upgraded.stdout  # preview, update


def constraint_steps(diff: str) -> list[tuple[str, str]]:
    """(step, resource name) of each ForeignKeyConstraint in `pulumi up --diff`'s output (its preview, then its
    update): `(create)`, `(replace)`, `(delete)`, ... each followed by its [urn=...] line."""
    return re.findall(r"fkguard:ForeignKeyConstraint: \(([\w-]+)\)\n\s*\[urn=urn:pulumi:[^\]]*"
                      r"ForeignKeyConstraint::([^\]]+)\]", diff)


def test_the_policy_pack_from_a_folder_outside_the_checkout_refuses_then_passes(user, pg, userdb, tmp_path):
    """The pack as a team ships it to CI: a copy of policies/ elsewhere, with its own .venv (PulumiPolicy.yaml's
    runtime.options.virtualenv is `.venv`, relative to the pack's folder; here a link to the one bootstrap made)."""
    outside = tmp_path / "elsewhere"
    pack = outside / "fkguard-policies"
    shutil.copytree(user.root / "policies", pack, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    (pack / ".venv").symlink_to(PROJECT / "policies" / ".venv")
    assert "virtualenv: .venv" in (pack / "PulumiPolicy.yaml").read_text()
    userdb.execute("INSERT INTO s2.c VALUES (1000, 999)")
    init(user, pg, write_catalog(user, S1_KEY, S2_KEY))
    gate = ("--skip-plugin-pre-install", "--policy-pack", str(pack), "--policy-pack-config",
            str(user.root / f"policy-config.{STACK}.json"))
    try:
        refused = user.run("preview", "--stack", STACK, *gate, check=False)
        text = no_crash(refused)
        assert refused.returncode != 0, text
        assert "[mandatory]  orphan-gate" in refused.stdout, text
        assert "s2.c.fk_c_p: 1 rows of s2.c have no parent in s2.p" in refused.stdout, text
        assert refused.stdout.count("[mandatory]  orphan-gate") == 1, text  # s1.c's key has no orphan

        user.fkguard("remediate", "-s", STACK, "--constraint", "s2.c.fk_c_p", "--action", "delete", "--yes")
        passed = user.run("preview", "--stack", STACK, *gate)
        no_crash(passed)
        assert "orphan-gate" not in passed.stdout, passed.stdout
        assert re.search(r"✅ fkguard@v[\d.]+ \(local: \S*/elsewhere/fkguard-policies\)", passed.stdout), passed.stdout
    finally:
        left = processes.reap(outside)
        assert not left, f"the policy pack outlived the test (killed now): {left}"
