"""Connection settings, read from a stack's config under pulumi-postgresql's own keys.

The Pulumi program (through the provider's configure), the policy pack and the fkguard commands
all build their connection here, from the same `postgresql:*` keys of `Pulumi.<stack>.yaml`.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from fkguard.errors import FkguardError

NAMESPACE = "postgresql"
KEYS = ("host", "port", "database", "username", "password", "sslmode")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


class SettingsError(FkguardError):
    """Stack config that cannot give a connection; the message names the key and the fix."""


def namespace_values(config: Mapping[str, Any], namespace: str, known: Sequence[str], stack: str,
                     error: type[ValueError] = SettingsError) -> dict[str, Any]:
    """The keys of one config namespace (`fkguard:`, `postgresql:`); an unknown key is refused
    with the known key it most looks like, since a typo would otherwise be silently ignored."""
    values = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(f"{namespace}:")}
    for key in values:
        if key not in known:
            hint = difflib.get_close_matches(key, list(known), n=1)
            fix = f"did you mean {namespace}:{hint[0]}?" if hint else f"fkguard reads only {', '.join(known)}"
            raise error(f"unknown config key {namespace}:{key} in {stack}: {fix}")
    return values


@dataclass(frozen=True)
class ConnectionSettings:
    host: str
    port: int
    database: str
    username: str
    password: str | None = field(default=None, repr=False)
    sslmode: str = "prefer"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], stack: str = "the stack") -> ConnectionSettings:
        """Build from a flat `{"postgresql:host": ...}` mapping (values may be plain strings)."""
        values = namespace_values(config, NAMESPACE, KEYS, stack)
        for key in ("host", "database", "username"):
            if not values.get(key):
                raise SettingsError(
                    f"{NAMESPACE}:{key} is not set for {stack}: run pulumi config set {NAMESPACE}:{key} <value>"
                )
        try:
            port = int(values.get("port", 5432))
        except (TypeError, ValueError):
            raise SettingsError(f"{NAMESPACE}:port in {stack} must be a number, got {values['port']!r}") from None
        sslmode = str(values.get("sslmode", "prefer"))
        if sslmode not in SSLMODES:
            raise SettingsError(f"{NAMESPACE}:sslmode in {stack} must be one of {', '.join(SSLMODES)}, got {sslmode!r}")
        secret = values.get("password")
        return cls(
            host=str(values["host"]),
            port=port,
            database=str(values["database"]),
            username=str(values["username"]),
            password=str(secret) if secret not in (None, "") else None,
            sslmode=sslmode,
        )

    def describe(self) -> str:
        """Where the connection goes, for messages: never the password."""
        return f"{self.username}@{self.host}:{self.port}/{self.database}"

    def connect(self, *, autocommit: bool = True, application_name: str = "fkguard") -> psycopg.Connection:
        try:
            return psycopg.connect(
                host=self.host,
                port=self.port,
                dbname=self.database,
                user=self.username,
                password=self.password,
                sslmode=self.sslmode,
                connect_timeout=10,
                application_name=application_name,
                autocommit=autocommit,
            )
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise SettingsError(
                f"cannot connect to {self.describe()}: {reason}; check the postgresql:* settings of the stack"
            ) from None


def pulumi_cli(project_dir: Path) -> str:
    local = project_dir / ".tools" / "bin" / "pulumi"
    if local.exists():
        return str(local)
    found = shutil.which("pulumi")
    if not found:
        raise SettingsError("the pulumi CLI is not installed: run make bootstrap in the fkguard project")
    return found


# Pulumi's own wording for the usual mistakes, and what to do about each.
_FIXES = {
    "incorrect passphrase": "set PULUMI_CONFIG_PASSPHRASE to this stack's passphrase (the local one is in scripts/local.env)",
    "passphrase must be set": "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) for this stack",
    "no stack named": "create it with pulumi stack init <name>, or pick an existing one: pulumi stack ls",
    "no Pulumi.yaml project file found": "run fkguard from the project folder (the one with Pulumi.yaml)",
}


def stack_config(stack: str, project_dir: Path | None = None) -> dict[str, Any]:
    """The stack's whole config with secrets decrypted, as the Pulumi engine would give it."""
    from fkguard import stack_secrets  # it builds on this module's SettingsError

    project_dir = (project_dir or Path.cwd()).resolve()
    env = stack_secrets.env_for(stack, os.environ, project_dir)
    result = subprocess.run(
        [pulumi_cli(project_dir), "config", "--json", "--show-secrets", "--stack", stack, "--cwd", str(project_dir)],
        capture_output=True,
        text=True,
        env={**env, "PULUMI_SKIP_UPDATE_CHECK": "true"},
        check=False,
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["pulumi config failed"])[-1].removeprefix("error: ")
        fix = next((f for key, f in _FIXES.items() if key in reason), "see pulumi config --stack " + stack)
        raise SettingsError(f"cannot read the config of stack {stack!r}: {reason}; {fix}")
    return {key: entry.get("value") for key, entry in json.loads(result.stdout).items()}


def from_stack(stack: str, project_dir: Path | None = None) -> ConnectionSettings:
    return ConnectionSettings.from_config(stack_config(stack, project_dir), stack=f"stack {stack!r}")
