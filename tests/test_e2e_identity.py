"""The database identity guard through the real CLI: a stack deployed to one database refuses, at preview and
at refresh and destroy --run-program, another database of the same cluster and another cluster; a copy of its cluster (what a
restore from a base backup or a failover gives) passes; fkguard:rebindDatabase moves it on purpose.
Two clusters of this test's own; the schema and catalog are its own too."""

import json
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
import yaml

from fkguard.stack import identity
from fkguard_testing.fixtures import TEST_PG_PORT, local_env, pg_script

PORT_B = TEST_PG_PORT + 3  # next to the suite's cluster and test_pg_script's
PORT_C = TEST_PG_PORT + 4
SCHEMA = """
CREATE SCHEMA IF NOT EXISTS idn;
CREATE TABLE idn.account (id int PRIMARY KEY);
INSERT INTO idn.account SELECT generate_series(1, 20);
CREATE TABLE idn.invoice (id int PRIMARY KEY, account_id int);
INSERT INTO idn.invoice SELECT g, 1 + g % 20 FROM generate_series(1, 200) g;
"""
CATALOG = {"constraints": [
    {"name": "fk_invoice_account", "tier": "critical", "table": "idn.invoice", "columns": ["account_id"],
     "references": "idn.account", "referenced_columns": ["id"], "on_delete": "RESTRICT"}]}


def connect(port: int, database: str = "apms", user: str | None = None) -> psycopg.Connection:
    v = local_env()
    return psycopg.connect(host="127.0.0.1", port=port, dbname=database, user=user or v["FKGUARD_PG_USER"],
                           password=v["FKGUARD_LOCAL_DB_PASSWORD"], autocommit=True, connect_timeout=5)


def has_fk(port: int, database: str = "apms") -> bool:
    with connect(port, database) as c:
        return c.execute("SELECT count(*) FROM pg_constraint WHERE conname = 'fk_invoice_account'").fetchone()[0] == 1


def fingerprint(port: int, database: str = "apms") -> identity.Identity:
    with connect(port, database) as c:
        return identity.live(c)


def point(project, port: int, database: str = "apms") -> None:
    project.run("config", "set", "postgresql:port", str(port), "--stack", "local")
    project.run("config", "set", "postgresql:database", database, "--stack", "local")


def resources(project) -> list:
    """What the state says of each resource fkguard manages. A refused run still rewrites the file, and the
    stack's own outputs (the program's, such as `database`) with what that run's program said."""
    found = json.loads(project.state_file("local").read_text())["checkpoint"]["latest"]["resources"]
    # Less the pickled provider, a secret whose ciphertext changes with every write.
    return [{"urn": r["urn"], **{part: {k: v for k, v in r.get(part, {}).items() if k != "__provider"}
                                 for part in ("inputs", "outputs")}}
            for r in found if r["type"].startswith("pulumi-python:dynamic/")]


def refused_everywhere(project, before: identity.Identity, now: identity.Identity) -> None:
    """preview, refresh and destroy each stop with the one line, and the state stays as it was."""
    state = resources(project)
    line = (f"stack local was deployed to {before.describe()}, but its postgresql:* settings now reach "
            f"{now.describe()}; refusing to change another database. Fix the settings, or to move the stack on "
            f"purpose: pulumi config set fkguard:rebindDatabase {now.fingerprint} -s local")
    # Plain refresh and destroy use the settings the state recorded for its provider; with --run-program they take
    # the stack's config, as preview and up do, and Pulumi records those settings for the provider even when the
    # run is refused: from then on the plain ones reach the other database too, and only the guard stops them.
    for command in (("preview",), ("refresh", "--yes", "--run-program"), ("destroy", "--yes", "--run-program"),
                    ("refresh", "--yes"), ("destroy", "--yes")):
        result = project.gated(*command, check=False) if command[0] == "preview" else \
            project.run(*command, "--stack", "local", "--skip-plugin-pre-install", check=False)
        out = result.stdout + result.stderr
        assert result.returncode != 0, f"{command} went through:\n{out}"
        assert line in out, f"{command}:\n{out}"
        assert "Traceback" not in out
    assert resources(project) == state


@pytest.fixture()
def clusters(tmp_path: Path):
    """Cluster B, with the schema in its apms and in a second database; C is made from B's files later."""
    b, c = tmp_path / "pg-b", tmp_path / "pg-c"
    try:
        pg_script("start", port=PORT_B, datadir=b)
        pg_script("psql", "-d", "postgres", "-c", f"CREATE DATABASE other OWNER {local_env()['FKGUARD_PG_USER']}",
                  port=PORT_B, datadir=b)
        for database in ("apms", "other"):
            with connect(PORT_B, database) as conn:
                conn.execute(SCHEMA)
        yield b, c
    finally:
        for folder, port in ((b, PORT_B), (c, PORT_C)):
            pg_script("destroy", port=port, datadir=folder, check=False)


def test_a_stack_refuses_another_database_passes_a_copy_of_its_own_and_moves_only_on_purpose(project, conn, clusters):
    b, c = clusters
    (project.root / "idn.yaml").write_text(yaml.safe_dump(CATALOG))
    project.run("config", "set", "fkguard:catalog", "idn.yaml", "--stack", "local")
    point(project, PORT_B)
    project.gated("up", "--yes")
    assert has_fk(PORT_B)
    deployed = fingerprint(PORT_B)

    # Another database of the same cluster: a copied or edited postgresql:database.
    point(project, PORT_B, "other")
    refused_everywhere(project, deployed, fingerprint(PORT_B, "other"))
    assert has_fk(PORT_B) and not has_fk(PORT_B, "other")

    # Another cluster with the same schema: a host edited to another server's.
    conn.execute("DROP SCHEMA IF EXISTS idn CASCADE")
    conn.execute(SCHEMA)
    try:
        point(project, TEST_PG_PORT, conn.info.dbname)
        refused_everywhere(project, deployed, identity.live(conn))
        assert not has_fk(TEST_PG_PORT, conn.info.dbname)
    finally:
        conn.execute("DROP SCHEMA IF EXISTS idn CASCADE")

    # A copy of the cluster's files (a restore from a base backup, a promoted replica) is the same database.
    pg_script("stop", port=PORT_B, datadir=b)
    real_c = b.resolve().with_name(b.resolve().name + "-copy")  # where the server's owner may enter, as B's files
    subprocess.run(["cp", "-a", str(b.resolve()), str(real_c)], check=True)
    c.symlink_to(real_c)
    try:
        pg_script("start", port=PORT_C, datadir=c)
        assert fingerprint(PORT_C) == deployed
        point(project, PORT_C)
        project.gated("preview", "--expect-no-changes")
        project.run("refresh", "--yes", "--run-program", "--stack", "local", "--skip-plugin-pre-install",
                    "--expect-no-changes")

        # Moving the stack on purpose: only the database fkguard:rebindDatabase names.
        point(project, PORT_C, "other")
        target = fingerprint(PORT_C, "other")
        project.run("config", "set", "fkguard:rebindDatabase", deployed.fingerprint, "--stack", "local")
        wrong = project.gated("preview", check=False)
        assert wrong.returncode != 0
        assert (f"fkguard:rebindDatabase names {deployed.fingerprint}, but stack local's postgresql:* settings reach "
                f"{target.describe()}; set it to {target.fingerprint} to move the stack there, or remove it") \
            in wrong.stdout + wrong.stderr
        project.run("config", "set", "fkguard:rebindDatabase", target.fingerprint, "--stack", "local")
        project.gated("up", "--yes")
        assert has_fk(PORT_C, "other") and has_fk(PORT_C)  # the move adds it there and leaves the old one alone
        project.run("config", "rm", "fkguard:rebindDatabase", "--stack", "local")
        project.gated("preview", "--expect-no-changes")
        # Now bound to the new one: the old database is the other one.
        point(project, PORT_C)
        refused_everywhere(project, target, deployed)
        point(project, PORT_C, "other")
        # The refused runs above left the old database in the provider's recorded settings: the program's are right.
        project.run("destroy", "--yes", "--run-program", "--stack", "local", "--skip-plugin-pre-install")
        assert not has_fk(PORT_C, "other") and has_fk(PORT_C)
    finally:
        pg_script("stop", port=PORT_C, datadir=c, check=False)
        shutil.rmtree(real_c, ignore_errors=True)
