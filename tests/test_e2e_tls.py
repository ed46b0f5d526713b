"""TLS to a managed database, through the real CLI: a cluster that accepts only TLS with a client
certificate (fkguard_testing.tls), reached with sslmode=verify-full, postgresql:sslrootcert and
postgresql:clientcert by the provider, the policy pack, the commands, pg_dump and the state backend;
a wrong CA or host name refused in one line naming the setting, before anything changes."""

import json

import pytest
from psycopg import sql

from fkguard.apms.generate import generate
from fkguard.stack import backend as state_backend
from fkguard.stack.settings import ConnectionSettings
from fkguard_testing import tls
from fkguard_testing.scratch import ScratchProject
from fkguard_testing.tls import HOST, TLS_PORT, TlsCluster, tls_superuser

tls_cluster = tls.tls_cluster  # the fixture, for this module
CRITICAL = {"fk_workflow_instances_config_version", "fk_workflow_instances_workspace"}


def fks(settings: ConnectionSettings) -> dict[str, bool]:
    with settings.connect() as conn:
        return dict(conn.execute("SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f' "
                                 "AND connamespace = 'public'::regnamespace"))


@pytest.fixture()
def secure(project: ScratchProject, tls_cluster: TlsCluster, tmp_path):
    """The project's local stack pointed at the TLS cluster, verify-full, with a backup before the first change."""
    with tls_superuser(tls_cluster, tls_cluster.settings.database) as admin:
        admin.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public AUTHORIZATION pg_database_owner; "
                      "GRANT ALL ON SCHEMA public TO PUBLIC")
    with tls_cluster.settings.connect() as conn:
        generate(conn, 1000, {}, progress=lambda _: None)
    config = {**tls_cluster.config(), "fkguard:addTiers": "critical", "fkguard:backup": "true",
              "fkguard:backupDir": str(tmp_path / "dumps")}
    for key, value in config.items():
        project.run("config", "set", "--path", key, value, "--stack", "local")
    return project


def gated(project, command, *args, check=True):
    return project.gated(command, *args, check=check)


def test_verify_full_reaches_the_provider_the_pack_the_commands_and_pg_dump(secure, tls_cluster, tmp_path):
    gated(secure, "preview")  # the program and the policy pack connected (the server takes nothing but TLS + cert)
    gated(secure, "up", "--yes")  # the provider, and pg_dump for the backup before the first change
    assert fks(tls_cluster.settings) == dict.fromkeys(CRITICAL, False)
    dumps = list((tmp_path / "dumps").iterdir())
    assert len(dumps) == 1 and dumps[0].stat().st_size > 0
    status = {r["constraint"]: r["stack"] for r in json.loads(secure.fkguard("status", "-s", "local", "--json").stdout)}
    assert {k for k, v in status.items() if v == "not valid"} == CRITICAL
    assert secure.fkguard("audit", "-s", "local").returncode == 0
    verified = secure.fkguard("verify", "-s", "local", "--json", check=False)
    assert verified.returncode in (0, 1) and json.loads(verified.stdout)
    monitored = secure.fkguard("monitor", "-s", "local", "--json", check=False)
    assert "cannot connect" not in monitored.stderr, monitored.stderr


@pytest.mark.parametrize("key, value, names", [
    ("postgresql:sslrootcert", "wrong_ca", "set postgresql:sslrootcert to the CA file that signed the server's certificate"),
    ("postgresql:host", "127.0.0.1", "postgresql:host must be a name the server's certificate carries"),
])
def test_a_wrong_ca_or_host_name_is_refused_in_one_line_naming_the_setting(secure, tls_cluster, key, value, names):
    gated(secure, "up", "--yes")  # deployed (monitor has its baseline); the next up would add every tier
    secure.run("config", "set", "fkguard:addTiers", "all", "--stack", "local")
    secure.run("config", "set", key, str(tls_cluster.wrong_ca) if value == "wrong_ca" else value, "--stack", "local")
    before = fks(tls_cluster.settings)
    for command in ("preview", "up"):
        refused = gated(secure, command, *(("--yes",) if command == "up" else ()), check=False)
        assert refused.returncode != 0
        assert names in refused.stdout + refused.stderr, refused.stdout + refused.stderr
    for command in (("status",), ("audit",), ("verify",), ("monitor",)):
        refused = secure.fkguard(*command, "-s", "local", check=False)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and names in lines[0], refused.stderr
        assert lines[0].startswith(f"fkguard {command[0]}: cannot connect to fkguard@")
    assert fks(tls_cluster.settings) == before  # nothing changed


@pytest.fixture()
def tls_state(tls_cluster: TlsCluster, tmp_path):
    """The shared Pulumi state on the TLS cluster, reached with verify-full and the client certificate."""
    state = state_backend.StateDb(HOST, TLS_PORT, "pulumi_state_tls", "pulumi_state_tls", "verify-full",
                                  {"sslrootcert": str(tls_cluster.ca), "sslcert": str(tls_cluster.client_cert),
                                   "sslkey": str(tls_cluster.client_key)})
    with tls_superuser(tls_cluster) as admin:
        list(state_backend.ensure(admin, state, "tls-state-password"))
    passfile = tmp_path / "pgpass"
    state_backend.write_passfile(passfile, state, "tls-state-password")
    yield state, passfile
    with tls_superuser(tls_cluster) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(state.database)))
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(state.role)))


def test_the_state_backend_verifies_the_server_too(secure, tls_cluster, tls_state):
    state, passfile = tls_state
    secure.env.update({"PULUMI_BACKEND_URL": state.backend_url(), "PGPASSFILE": str(passfile)})
    secure.run("stack", "init", "local", "--secrets-provider", "passphrase")
    gated(secure, "up", "--yes")
    with tls_superuser(tls_cluster, state.database) as admin:
        stacks = admin.execute("SELECT count(*) FROM pulumi_state WHERE key LIKE '%/.pulumi/stacks/fkguard/local.json'")
        assert stacks.fetchone() == (1,)
    # The same URL with a CA that did not sign the server's certificate: refused before anything runs.
    wrong = state_backend.StateDb(state.host, state.port, state.database, state.role, "verify-full",
                                  {**state.tls, "sslrootcert": str(tls_cluster.wrong_ca)})
    refused = secure.run("stack", "ls", check=False, env={"PULUMI_BACKEND_URL": wrong.backend_url()})
    assert refused.returncode != 0 and "certificate" in refused.stderr, refused.stderr
