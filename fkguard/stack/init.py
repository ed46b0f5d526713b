"""`fkguard init <stack>`: a new stack in one command, with nothing half-made when it fails.

The connection is checked before the stack exists; the password is read from an environment
variable or a prompt, never a command line, and reaches Pulumi on stdin as a secret; the secrets
provider is explicit (and never the local stack's public passphrase); the stack gets its
`policy-config.<stack>.json`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from fkguard.errors import FkguardError
from fkguard.stack import secrets as stack_secrets
from fkguard.stack import settings
from fkguard.stack.state import run_pulumi


class InitError(FkguardError):
    """A stack that cannot be created as asked; nothing was created."""


@dataclass(frozen=True)
class Request:
    stack: str
    connection: settings.ConnectionSettings
    secrets_provider: str
    catalog: str | None
    policy_from: str
    force: bool


def existing_stacks(project_dir: Path) -> set[str]:
    listed = json.loads(run_pulumi(["stack", "ls", "--json"], project_dir).stdout or "[]")
    return {stack_secrets.short_name(s["name"]) for s in listed}


def _config_pairs(request: Request) -> list[str]:
    c = request.connection
    pairs = {"postgresql:host": c.host, "postgresql:port": str(c.port), "postgresql:database": c.database,
             "postgresql:username": c.username, "postgresql:sslmode": c.sslmode}
    if request.catalog:
        pairs["fkguard:catalog"] = request.catalog
    return [arg for key, value in pairs.items() for arg in ("--plaintext", f"{key}={value}")]


def init(request: Request, project_dir: Path) -> list[str]:
    """Create (or with force, reconfigure) the stack; returns what was done, line by line."""
    stack = request.stack
    env = stack_secrets.env_for(stack, None, project_dir, request.secrets_provider)
    if request.secrets_provider.startswith("passphrase") and not (
            env.get(stack_secrets.PASSPHRASE) or env.get(stack_secrets.PASSPHRASE_FILE)):
        raise InitError(f"stack {stack!r} needs a passphrase for its secrets: export "
                        f"{stack_secrets.PASSPHRASE_FILE}=<a file only you can read>, or pass --secrets-provider "
                        f"awskms://…|gcpkms://…|azurekeyvault://…|hashivault://…")
    if request.catalog and not (project_dir / request.catalog).is_file():
        raise InitError(f"catalog file {request.catalog} does not exist in {project_dir}; write it first")
    exists = stack in existing_stacks(project_dir)
    if exists and not request.force:
        raise InitError(f"stack {stack!r} already exists; fkguard init {stack} --force sets its connection again")
    with request.connection.connect(application_name="fkguard-init"):
        pass  # a wrong host or password stops here, before anything is created
    done = []
    if not exists:
        run_pulumi(["stack", "init", stack, "--secrets-provider", request.secrets_provider, "--non-interactive"],
                   project_dir, env=env)
        done.append(f"created stack {stack} (secrets: {request.secrets_provider.split(':', 1)[0]})")
    try:
        run_pulumi(["config", "set-all", "--stack", stack, *_config_pairs(request)], project_dir, env=env)
        if request.connection.password:
            run_pulumi(["config", "set", "--secret", "postgresql:password", "--stack", stack, "--non-interactive"],
                       project_dir, env=env, stdin=request.connection.password)
    except settings.SettingsError:
        if not exists:  # nothing half-made: the stack goes with its config file
            run_pulumi(["stack", "rm", stack, "--yes", "--force", "--non-interactive"], project_dir, env=env,
                       check=False)
        raise
    done.append(f"set postgresql:* of {stack}" + (" (password as a secret)" if request.connection.password else ""))
    policy = project_dir / f"policy-config.{stack}.json"
    if not policy.exists() or request.force:
        shutil.copyfile(project_dir / f"policy-config.{request.policy_from}.json", policy)
        done.append(f"wrote {policy.name} (from policy-config.{request.policy_from}.json)")
    return done
