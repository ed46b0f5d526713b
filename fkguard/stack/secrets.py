"""Which passphrase may encrypt a stack's secrets.

The local stack's passphrase is public on purpose (fkguard/local.env, the README): it guards a
throwaway cluster on 127.0.0.1. A stack holding a real database password must never be encrypted
with it, yet a shell that exported it for the local stack would silently do exactly that on
`pulumi stack init staging`. So the public passphrase is handed to throwaway stacks only, by
`env_for`, which every way fkguard runs pulumi goes through (the `pulumi` of scripts/env.sh, the
fkguard commands, the policy pack, the program itself), and any other stack is refused while it
is in the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import yaml

from fkguard.errors import SettingsError
from fkguard.stack import project

LOCAL_STACK = "local"
TEST_STACK_PREFIX = "test-"  # stacks that tests and benchmarks create and destroy
PASSPHRASE = "PULUMI_CONFIG_PASSPHRASE"
PASSPHRASE_FILE = "PULUMI_CONFIG_PASSPHRASE_FILE"


class PublicPassphraseError(SettingsError):
    """A real stack about to be encrypted, or opened, with the local stack's public passphrase."""


def short_name(stack: str) -> str:
    """`org/project/name` or `name`: the stack's own name."""
    return stack.rsplit("/", 1)[-1]


def is_throwaway(stack: str) -> bool:
    name = short_name(stack)
    return name == LOCAL_STACK or name.startswith(TEST_STACK_PREFIX)


@lru_cache(maxsize=1)
def public_passphrase() -> str:
    """The local stack's passphrase, from fkguard/local.env (its one place): package data, so the policy pack,
    which runs fkguard from its wheel, reads the same file as the checkout (scripts/local.env links to it)."""
    text = (Path(__file__).resolve().parents[1] / "local.env").read_text()
    for line in text.splitlines():
        if line.startswith(f"{PASSPHRASE}="):
            return line.split(":-", 1)[1].rstrip("}").strip() if ":-" in line else line.split("=", 1)[1].strip()
    raise SettingsError(f"fkguard/local.env does not set {PASSPHRASE}; restore it from git")


def _passphrase_in(env: Mapping[str, str]) -> str | None:
    if env.get(PASSPHRASE):
        return env[PASSPHRASE]
    path = env.get(PASSPHRASE_FILE)
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError:
            return None  # pulumi itself says the file is unreadable
    return None


def secrets_provider(project_dir: Path, stack: str) -> str:
    """The stack's secrets provider as its Pulumi.<stack>.yaml records it ('passphrase' by default)."""
    path = project_dir / f"Pulumi.{short_name(stack)}.yaml"
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return "passphrase"
    provider = document.get("secretsprovider") if isinstance(document, dict) else None
    return str(provider) if provider else "passphrase"


def refusal(stack: str) -> str:
    name = short_name(stack)
    return (f"stack {name!r} must not use the local stack's public passphrase (published in the README): "
            f"give it its own with export {PASSPHRASE_FILE}=<a file only you can read> (or {PASSPHRASE}), "
            f"or a key service: pulumi stack init {name} --secrets-provider awskms://…|gcpkms://…|azurekeyvault://…"
            f"|hashivault://…")


def env_for(stack: str, env: Mapping[str, str] | None = None, project_dir: Path | None = None,
            provider: str | None = None) -> dict[str, str]:
    """The environment to run pulumi with for `stack`: a throwaway stack gets the public passphrase
    when none is set; any other stack is refused while that passphrase would encrypt its secrets.
    `provider` is the secrets provider asked for at `stack init` (else the stack's own)."""
    out = dict(os.environ if env is None else env)
    if is_throwaway(stack):
        if not (out.get(PASSPHRASE) or out.get(PASSPHRASE_FILE)):
            out[PASSPHRASE] = public_passphrase()
        return out
    provider = provider or secrets_provider(project.or_working(project_dir), stack)
    if provider.startswith("passphrase") and _passphrase_in(out) == public_passphrase():
        raise PublicPassphraseError(refusal(stack))
    return out
