"""`fkguard init STACK`: create a stack, its connection's password stored only as a Pulumi secret."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from fkguard.commands import common
from fkguard.stack import init, project, settings

HELP = "create a stack: its connection, secrets provider, catalog and policy config"
DESCRIPTION = ("create a stack: its connection (the password stored only as a Pulumi secret), an explicit secrets "
               "provider, the catalog and policy-config.<stack>.json")


def add_parser(subparsers: common.Subparsers) -> argparse.ArgumentParser:
    sub = subparsers.add_parser("init", help=HELP, description=DESCRIPTION)
    sub.add_argument("stack", help="the new stack's name")
    sub.add_argument("--host", required=True)
    sub.add_argument("--port", default="5432")
    sub.add_argument("--database", required=True)
    sub.add_argument("--username", required=True)
    sub.add_argument("--sslmode", default="verify-full", help="libpq sslmode (default verify-full)")
    sub.add_argument("--password-env", metavar="VARIABLE", help="read the password from this environment variable "
                     "(default: prompt)")
    sub.add_argument("--no-password", action="store_true", help="no password (peer or certificate authentication)")
    sub.add_argument("--secrets-provider", default="passphrase",
                     help="passphrase (from PULUMI_CONFIG_PASSPHRASE[_FILE]) or awskms://…, gcpkms://…, "
                          "azurekeyvault://…, hashivault://…")
    sub.add_argument("--catalog", help="the catalog file, relative to the project (default: the plan's 16)")
    sub.add_argument("--policy-from", default="staging", choices=("local", "staging", "production"),
                     help="copy the policy levels of this stack (default staging)")
    sub.add_argument("--force", action="store_true", help="set the connection of an existing stack again")
    sub.set_defaults(run=run, command="init")
    return sub


def _password(args: argparse.Namespace) -> str | None:
    if args.password_env:
        password = os.environ.get(args.password_env)
        if not password:
            raise init.InitError(f"{args.password_env} is not set; export the password there, or leave out "
                                 f"--password-env to be prompted")
        return password
    if args.no_password:
        return None
    if sys.stdin.isatty():
        return getpass.getpass(f"Password of {args.username} on {args.host} (stored as a Pulumi secret): ")
    raise init.InitError("no terminal to ask the password: --password-env <VARIABLE> reads it from the "
                         "environment (or --no-password for peer or certificate authentication)")


def run(args: argparse.Namespace) -> int:
    password = _password(args)
    connection = settings.ConnectionSettings.from_config(
        {f"postgresql:{k}": v for k, v in (("host", args.host), ("port", args.port), ("database", args.database),
                                           ("username", args.username), ("password", password),
                                           ("sslmode", args.sslmode)) if v is not None}, stack=f"stack {args.stack!r}")
    request = init.Request(args.stack, connection, args.secrets_provider, args.catalog, args.policy_from, args.force)
    for line in init.init(request, project.working_folder()):
        print(f"fkguard init: {line}")
    print(f"fkguard init: next, fkguard status -s {args.stack}; then fkguard audit -s {args.stack} and "
          f"make policy-check STACK={args.stack}")
    return 0
