"""A password set as a Pulumi secret appears in clear nowhere: not in the state files, not in
Pulumi's most verbose logs, not in the policy pack's messages, not in fkguard's output."""

from pathlib import Path

import pytest

from fkguard.apms.generate import generate
from fkguard.catalog import load_catalog
from fkguard_testing.fixtures import as_superuser, local_env

SECRET = "Zq9-fkguard-Secret-pw"


@pytest.fixture()
def secret_password(project, pg):
    as_superuser(f"ALTER ROLE {pg.username} PASSWORD '{SECRET}'")
    project.run("config", "set", "--secret", "postgresql:password", SECRET, "--stack", "local")
    yield project
    as_superuser(f"ALTER ROLE {pg.username} PASSWORD '{local_env()['FKGUARD_LOCAL_DB_PASSWORD']}'")


def everything_under(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


def test_the_password_is_in_clear_nowhere(conn, secret_password):
    project = secret_password
    generate(conn, 500, {load_catalog()[0]: 2}, progress=lambda _: None)
    verbose = ("-v=9", "--logtostderr", "--logflow")
    seen = []
    blocked = project.gated("preview", *verbose, check=False)
    assert blocked.returncode != 0 and "orphan-gate" in blocked.stdout  # the pack spoke, and connected
    seen += [blocked.stdout, blocked.stderr]
    for args in (("audit", "-s", "local"), ("remediate", "-s", "local", "--all", "--action", "delete", "--yes"),
                 ("status", "-s", "local"), ("verify", "-s", "local")):
        result = project.fkguard(*args, check=False)
        seen += [result.stdout, result.stderr]
    deployed = project.gated("up", "--yes", *verbose)
    seen += [deployed.stdout, deployed.stderr]
    project.run("config", "set", "postgresql:port", "1", "--stack", "local")
    down = project.fkguard("status", "-s", "local", check=False)
    assert "cannot connect to fkguard@127.0.0.1:1/apms" in down.stderr
    seen += [down.stdout, down.stderr]

    assert len("".join(seen)) > 100_000  # -v=9 really was verbose
    places = {
        "command output and -v=9 logs": "\n".join(seen),
        "state files": everything_under(project.root / ".pulumi-state"),
        "PULUMI_HOME (logs, workspace)": everything_under(Path(project.env["PULUMI_HOME"])),
        "stack config file": (project.root / "Pulumi.local.yaml").read_text(),
    }
    for place, text in places.items():
        assert SECRET not in text, f"the password appears in {place}"
