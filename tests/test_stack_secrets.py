"""The local stack's public passphrase reaches throwaway stacks only: `pulumi stack init staging` in
a shell set up by scripts/env.sh is refused instead of encrypting staging's password with it."""

import subprocess

import pytest

from fkguard.stack import secrets as stack_secrets
from fkguard.stack.secrets import PublicPassphraseError, env_for
from fkguard_testing.fixtures import PROJECT

PUBLIC = "fkguard-local-passphrase"
WRAPPER = PROJECT / "scripts" / "bin" / "pulumi"
REFUSED = ("error: stack 'staging' must not use the local stack's public passphrase (published in the README): "
           "give it its own with export PULUMI_CONFIG_PASSPHRASE_FILE=<a file only you can read> (or "
           "PULUMI_CONFIG_PASSPHRASE), or a key service: pulumi stack init staging --secrets-provider "
           "awskms://…|gcpkms://…|azurekeyvault://…|hashivault://…")


def test_the_public_passphrase_is_the_one_of_local_env():
    assert stack_secrets.public_passphrase() == PUBLIC
    assert f"PULUMI_CONFIG_PASSPHRASE:-{PUBLIC}" in (PROJECT / "fkguard" / "local.env").read_text()
    # the scripts source the same file, not a copy
    assert (PROJECT / "scripts" / "local.env").resolve() == (PROJECT / "fkguard" / "local.env").resolve()


@pytest.mark.parametrize("stack", ["local", "test-bench", "acme/fkguard/local"])
def test_throwaway_stacks_get_the_public_passphrase_when_none_is_set(stack, tmp_path):
    assert env_for(stack, {}, tmp_path)["PULUMI_CONFIG_PASSPHRASE"] == PUBLIC
    assert env_for(stack, {"PULUMI_CONFIG_PASSPHRASE": "mine"}, tmp_path)["PULUMI_CONFIG_PASSPHRASE"] == "mine"


@pytest.mark.parametrize("stack", ["staging", "production", "acme/fkguard/staging", "localhost"])
def test_other_stacks_never_get_it(stack, tmp_path):
    assert "PULUMI_CONFIG_PASSPHRASE" not in env_for(stack, {}, tmp_path)
    with pytest.raises(PublicPassphraseError, match="must not use the local stack's public passphrase"):
        env_for(stack, {"PULUMI_CONFIG_PASSPHRASE": PUBLIC}, tmp_path)
    (tmp_path / "public").write_text(PUBLIC + "\n")
    with pytest.raises(PublicPassphraseError):
        env_for(stack, {"PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "public")}, tmp_path)
    assert env_for(stack, {"PULUMI_CONFIG_PASSPHRASE": "staging's own"}, tmp_path)


def test_a_stack_with_a_key_service_is_not_concerned_by_the_passphrase(tmp_path):
    (tmp_path / "Pulumi.staging.yaml").write_text("secretsprovider: awskms://alias/fkguard\nconfig: {}\n")
    assert env_for("staging", {"PULUMI_CONFIG_PASSPHRASE": PUBLIC}, tmp_path)
    assert env_for("qa", {"PULUMI_CONFIG_PASSPHRASE": PUBLIC}, tmp_path, provider="gcpkms://projects/p/keys/k")


def test_env_sh_no_longer_exports_it():
    shown = subprocess.run(["bash", "-c", f". {PROJECT}/scripts/env.sh && echo \"${{PULUMI_CONFIG_PASSPHRASE-unset}}\" "
                            "&& command -v pulumi"], capture_output=True, text=True, check=True,
                           env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"}).stdout.split()
    assert shown == ["unset", str(WRAPPER)]


def _pulumi(project, *args, **env):
    """pulumi as a user of scripts/env.sh runs it: the wrapper, in the project folder."""
    environment = {k: v for k, v in project.env.items() if not k.startswith("PULUMI_CONFIG_PASSPHRASE")}
    return subprocess.run([str(WRAPPER), *args, "--non-interactive"], cwd=project.root, capture_output=True,
                          text=True, env={**environment, **env}, check=False, timeout=600)


def _stacks(project):
    return _pulumi(project, "stack", "ls").stdout


def test_the_cli_refuses_a_real_stack_with_the_public_passphrase(project):
    refused = _pulumi(project, "stack", "init", "staging", "--secrets-provider", "passphrase",
                      PULUMI_CONFIG_PASSPHRASE=PUBLIC)
    assert refused.returncode == 2
    assert refused.stderr.strip() == REFUSED
    assert "staging" not in _stacks(project)

    own = {"PULUMI_CONFIG_PASSPHRASE": "staging-only-passphrase"}
    assert _pulumi(project, "stack", "init", "staging", "--secrets-provider", "passphrase", **own).returncode == 0
    assert _pulumi(project, "config", "set", "--secret", "postgresql:password", "pw", **own).returncode == 0
    # staging is now selected: a command naming no stack is about it, and is refused too
    assert _pulumi(project, "config", "get", "postgresql:password", PULUMI_CONFIG_PASSPHRASE=PUBLIC).returncode == 2
    assert _pulumi(project, "config", "get", "postgresql:password", **own).stdout.strip() == "pw"
    # the local stack still works without any passphrase in the environment
    assert _pulumi(project, "config", "get", "postgresql:password", "-s", "local").stdout.strip() == "fkguard-local-only"

    status = project.fkguard("status", "-s", "staging", check=False, env={"PULUMI_CONFIG_PASSPHRASE": PUBLIC})
    assert status.returncode == 2
    assert status.stderr.strip() == "fkguard status: " + REFUSED.removeprefix("error: ")


def test_a_stack_already_encrypted_with_it_cannot_deploy(project):
    # Made with the real CLI directly, as an older fkguard's env.sh let it happen.
    project.run("stack", "init", "staging", "--secrets-provider", "passphrase")
    project.run("config", "set", "postgresql:password", "x", "--secret", "--stack", "staging")
    preview = project.run("preview", "--stack", "staging", "--skip-plugin-pre-install", check=False)
    assert preview.returncode != 0
    assert REFUSED.removeprefix("error: ") in preview.stdout + preview.stderr
    project.run("stack", "rm", "staging", "--yes", "--force")
