"""`fkguard init <stack>`: one command makes a working stack, or nothing at all."""

import json
import os
import subprocess

from fkguard_testing.fixtures import PROJECT, local_env

OWN = {"PULUMI_CONFIG_PASSPHRASE": "qa-only-passphrase"}


def fkguard(project, *args, **env):
    """fkguard in the project copy, with these variables added and no terminal."""
    return subprocess.run([str(PROJECT / ".venv" / "bin" / "fkguard"), *args], cwd=project.root, capture_output=True,
                          text=True, env={**project.env, **env}, check=False, timeout=600, stdin=subprocess.DEVNULL)


def init(project, *args, **env):
    return fkguard(project, "init", *args, **env)


def stacks(project) -> str:
    return project.run("stack", "ls").stdout


def connection(pg) -> list[str]:
    return ["--host", pg.host, "--port", str(pg.port), "--database", pg.database, "--username", pg.username,
            "--sslmode", "disable"]


def test_init_makes_a_stack_that_works_with_its_password_only_as_a_secret(project, pg):
    password = local_env()["FKGUARD_LOCAL_DB_PASSWORD"]
    made = init(project, "qa", *connection(pg), "--password-env", "QA_DB_PASSWORD", **OWN, QA_DB_PASSWORD=password)
    assert made.returncode == 0, made.stderr
    assert "fkguard init: created stack qa (secrets: passphrase)" in made.stdout
    assert "fkguard init: wrote policy-config.qa.json (from policy-config.staging.json)" in made.stdout
    config = (project.root / "Pulumi.qa.yaml").read_text()
    assert "postgresql:password:\n    secure: " in config and password not in config
    assert (project.root / "policy-config.qa.json").read_text() == (project.root / "policy-config.staging.json").read_text()

    status = fkguard(project, "status", "-s", "qa", "--json", **OWN)
    assert status.returncode == 0, status.stderr
    rows = json.loads(status.stdout)
    assert len(rows) == 16 and {r["stack"] for r in rows} == {"absent"}  # connected, and the new stack holds nothing

    again = init(project, "qa", *connection(pg), "--password-env", "QA_DB_PASSWORD", **OWN, QA_DB_PASSWORD=password)
    assert again.returncode == 2
    assert again.stderr.strip() == "fkguard init: stack 'qa' already exists; fkguard init qa --force sets its " \
                                   "connection again"
    forced = init(project, "qa", *connection(pg), "--password-env", "QA_DB_PASSWORD", "--force", **OWN,
                  QA_DB_PASSWORD=password)
    assert forced.returncode == 0, forced.stderr


def test_init_leaves_nothing_behind_when_it_cannot_work(project, pg):
    password = local_env()["FKGUARD_LOCAL_DB_PASSWORD"]
    public = init(project, "qa", *connection(pg), "--password-env", "QA_DB_PASSWORD", QA_DB_PASSWORD=password)
    assert public.returncode == 2 and "must not use the local stack's public passphrase" in public.stderr
    wrong = init(project, "qa", *connection(pg), "--password-env", "QA_DB_PASSWORD", **OWN,
                 QA_DB_PASSWORD="not-the-password")
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("fkguard init: cannot connect to fkguard@127.0.0.1:")
    assert "not-the-password" not in wrong.stderr
    no_terminal = init(project, "qa", *connection(pg), **OWN)
    assert no_terminal.returncode == 2 and "--password-env <VARIABLE>" in no_terminal.stderr
    assert "qa" not in stacks(project).split()
    assert not (project.root / "Pulumi.qa.yaml").exists() and not (project.root / "policy-config.qa.json").exists()
    assert os.environ.get("QA_DB_PASSWORD") is None
