"""Connection settings, read from a stack's config under pulumi-postgresql's own keys.

The Pulumi program (through the provider's configure), the policy pack and the fkguard commands
all build their connection here, from the same `postgresql:*` keys of `Pulumi.<stack>.yaml`.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from fkguard.errors import FkguardError, SettingsError
from fkguard.stack import engine, project
from fkguard.stack import secrets as stack_secrets

if TYPE_CHECKING:  # imported where used: the provider and most commands never start pulumi
    from pulumi.automation import LocalWorkspace, PulumiCommand

NAMESPACE = "postgresql"
# sslrootcert and clientcert (an object: cert, key) are pulumi-postgresql's own names for the CA file
# and the client certificate; the files are read by libpq, in every process fkguard starts.
KEYS = ("host", "port", "database", "username", "password", "sslmode", "sslrootcert", "clientcert")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
CLIENTCERT_KEYS = ("cert", "key", "sslinline")

# libpq's words for a refused TLS handshake, and the setting that fixes each: a wrong CA or host name is
# said before anything changes, naming the key, not as a bare OpenSSL error.
_TLS_FIXES = (
    ("does not match host name", "postgresql:host must be a name the server's certificate carries (sslmode verify-full "
                                 "checks it); connect by that name"),
    ("certificate verify failed", "set postgresql:sslrootcert to the CA file that signed the server's certificate"),
    ("root certificate file", "set postgresql:sslrootcert to the CA file that signed the server's certificate"),
    ("server does not support SSL", "the server does not serve TLS: lower postgresql:sslmode, or enable ssl on it"),
    ("certificate", "check postgresql:clientcert (cert, key) and postgresql:sslrootcert"),
    ("SSL", "check postgresql:sslmode, postgresql:sslrootcert and postgresql:clientcert"),
)


def connection_fix(reason: str) -> str:
    """What to change for a refused connection: the TLS setting at fault, else the stack's settings in general."""
    return next((fix for words, fix in _TLS_FIXES if words in reason), "check the postgresql:* settings of the stack")


def _clientcert(value: Any, stack: str) -> tuple[str | None, str | None]:
    """postgresql:clientcert's cert and key paths (an object in the stack's config, JSON text through some readers)."""
    if value in (None, ""):
        return None, None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, Mapping) or not value.get("cert") or not value.get("key"):
        raise SettingsError(f"postgresql:clientcert in {stack} must be an object with cert and key: run pulumi config set "
                            f"--path postgresql:clientcert.cert <file> and ...clientcert.key <file>", key="postgresql:clientcert")
    unknown = sorted(set(value) - set(CLIENTCERT_KEYS))
    if unknown:
        raise SettingsError(f"unknown key {unknown[0]} in postgresql:clientcert of {stack}: it takes cert and key",
                            key="postgresql:clientcert")
    if str(value.get("sslinline", "false")).lower() == "true":
        raise SettingsError(f"postgresql:clientcert.sslinline in {stack}: fkguard reads the certificate and key from files; "
                            f"give their paths and set sslinline false", key="postgresql:clientcert")
    return str(value["cert"]), str(value["key"])


def _existing_file(path: str | None, key: str, stack: str) -> str | None:
    if path is None:
        return None
    full = Path(path).expanduser()
    if not full.is_file():
        raise SettingsError(f"{key} of {stack} names {path}, which is not a file: fix the path", key=key)
    return str(full.resolve())


def namespace_values(config: Mapping[str, Any], namespace: str, known: Sequence[str], stack: str,
                     error: Callable[..., FkguardError] = SettingsError) -> dict[str, Any]:
    """The keys of one config namespace (`fkguard:`, `postgresql:`); an unknown key is refused
    with the known key it most looks like, since a typo would otherwise be silently ignored."""
    values = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(f"{namespace}:")}
    for key in values:
        if key not in known:
            hint = difflib.get_close_matches(key, list(known), n=1)
            fix = f"did you mean {namespace}:{hint[0]}?" if hint else f"fkguard reads only {', '.join(known)}"
            raise error(f"unknown config key {namespace}:{key} in {stack}: {fix}", key=f"{namespace}:{key}")
    return values


@dataclass(frozen=True)
class ConnectionSettings:
    host: str
    port: int
    database: str
    username: str
    password: str | None = field(default=None, repr=False)
    sslmode: str = "prefer"
    sslrootcert: str | None = None
    sslcert: str | None = None  # postgresql:clientcert.cert
    sslkey: str | None = None  # postgresql:clientcert.key

    @classmethod
    def from_config(cls, config: Mapping[str, Any], stack: str = "the stack") -> ConnectionSettings:
        """Build from a flat `{"postgresql:host": ...}` mapping (values may be plain strings)."""
        for libpq_name, ours in (("sslcert", "cert"), ("sslkey", "key")):  # libpq's names, which users reach for
            if f"{NAMESPACE}:{libpq_name}" in config:
                raise SettingsError(f"{NAMESPACE}:{libpq_name} in {stack} is libpq's name; pulumi-postgresql's is "
                                    f"{NAMESPACE}:clientcert.{ours}: pulumi config set --path {NAMESPACE}:clientcert.{ours} "
                                    f"<file>", key=f"{NAMESPACE}:{libpq_name}")
        values = namespace_values(config, NAMESPACE, KEYS, stack)
        for key in ("host", "database", "username"):
            if not values.get(key):
                raise SettingsError(
                    f"{NAMESPACE}:{key} is not set for {stack}: run pulumi config set {NAMESPACE}:{key} <value>",
                    key=f"{NAMESPACE}:{key}",
                )
        try:
            port = int(values.get("port", 5432))
        except (TypeError, ValueError):
            raise SettingsError(f"{NAMESPACE}:port in {stack} must be a number, got {values['port']!r}",
                                key=f"{NAMESPACE}:port") from None
        sslmode = str(values.get("sslmode", "prefer"))
        if sslmode not in SSLMODES:
            raise SettingsError(f"{NAMESPACE}:sslmode in {stack} must be one of {', '.join(SSLMODES)}, got {sslmode!r}",
                                key=f"{NAMESPACE}:sslmode")
        secret = values.get("password")
        cert, cert_key = _clientcert(values.get("clientcert"), stack)
        return cls(
            host=str(values["host"]),
            port=port,
            database=str(values["database"]),
            username=str(values["username"]),
            password=str(secret) if secret not in (None, "") else None,
            sslmode=sslmode,
            sslrootcert=_existing_file(str(values["sslrootcert"]) if values.get("sslrootcert") else None,
                                       f"{NAMESPACE}:sslrootcert", stack),
            sslcert=_existing_file(cert, f"{NAMESPACE}:clientcert.cert", stack),
            sslkey=_existing_file(cert_key, f"{NAMESPACE}:clientcert.key", stack),
        )

    def tls_params(self) -> dict[str, str]:
        """The TLS file parameters libpq takes, by its own names (for psycopg, pg_dump's PGSSL* environment, the state URL)."""
        return {name: value for name, value in (("sslrootcert", self.sslrootcert), ("sslcert", self.sslcert),
                                                 ("sslkey", self.sslkey)) if value}

    def describe(self) -> str:
        """Where the connection goes, for messages: never the password."""
        return f"{self.username}@{self.host}:{self.port}/{self.database}"

    def connect_kwargs(self, *, autocommit: bool = True, application_name: str = "fkguard") -> dict[str, Any]:
        """psycopg.connect's arguments: for connect() and for a psycopg_pool pool alike."""
        return {"host": self.host, "port": self.port, "dbname": self.database, "user": self.username,
                "password": self.password, "sslmode": self.sslmode, "connect_timeout": 10,
                "application_name": application_name, "autocommit": autocommit, **self.tls_params(),
                # Never prepare on the server until the connection is known to reach PostgreSQL directly (a
                # thread's kept connection, fkguard.stack.connections): behind a transaction pooler the next
                # execution may reach a server connection without the statement, or one where another client's has
                # its name (PgBouncer before 1.21 has no max_prepared_statements).
                "prepare_threshold": None}

    def connect(self, *, autocommit: bool = True, application_name: str = "fkguard") -> psycopg.Connection:
        try:
            return engine.opened(psycopg.connect(**self.connect_kwargs(autocommit=autocommit,
                                                                       application_name=application_name)))
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise SettingsError(f"cannot connect to {self.describe()}: {reason}; {connection_fix(reason)}") from None


def pulumi_cli(project_dir: Path) -> str:
    """The real pulumi CLI: the bootstrap's in .tools/bin, else PATH's."""
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


@lru_cache(maxsize=4)
def _pulumi_command(cli: str) -> PulumiCommand:
    from pulumi.automation import PulumiCommand

    # Its constructor runs `pulumi version`: once per process. The version is the bootstrap's pin.
    return PulumiCommand(root=str(Path(cli).parent.parent), skip_version_check=True)


def workspace(stack: str, project_dir: Path | None = None) -> LocalWorkspace:
    """A pulumi.automation workspace on the project folder, for reading one stack: the real CLI, and the
    environment of fkguard.stack.secrets (a throwaway stack gets the public passphrase, a real stack is
    refused with it). Its reads name the stack (--stack) and never select it."""
    from pulumi.automation import LocalWorkspace

    project_dir = project.or_working(project_dir)
    env = stack_secrets.env_for(stack, os.environ, project_dir)
    return LocalWorkspace(work_dir=str(project_dir), env_vars={**env, "PULUMI_SKIP_UPDATE_CHECK": "true"},
                          pulumi_command=_pulumi_command(pulumi_cli(project_dir)))


def pulumi_refusal(exc: Exception, what: str) -> str:
    """The last line pulumi wrote to stderr, from an automation CommandError (its message ends with stderr)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    last = lines[-1].removeprefix("stderr:").strip() if lines else ""
    return last.removeprefix("error: ") or f"pulumi {what} failed"


def stack_config(stack: str, project_dir: Path | None = None) -> dict[str, Any]:
    """The stack's whole config with secrets decrypted, as the Pulumi engine would give it."""
    from pulumi.automation import CommandError

    try:
        config = workspace(stack, project_dir).get_all_config(stack)
    except CommandError as exc:
        reason = pulumi_refusal(exc, "config")
        fix = next((f for key, f in _FIXES.items() if key in reason), "see pulumi config --stack " + stack)
        raise SettingsError(f"cannot read the config of stack {stack!r}: {reason}; {fix}") from None
    return {key: entry.value for key, entry in config.items()}
