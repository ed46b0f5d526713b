"""`fkguard state-db --host HOST`: create the team's shared Pulumi state database and role (idempotent)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from fkguard.commands import common
from fkguard.stack import backend as state_backend
from fkguard.stack import settings

HELP = "create the team's shared Pulumi state database and role (idempotent); prints PULUMI_BACKEND_URL"
DESCRIPTION = ("create or update the database and role of Pulumi's postgres backend, connecting as an administrator "
               "through libpq's environment (PGPASSWORD or PGPASSFILE); prints the PULUMI_BACKEND_URL to use (no "
               "password)")


def add_parser(subparsers: common.Subparsers) -> argparse.ArgumentParser:
    sub = subparsers.add_parser("state-db", help=HELP, description=DESCRIPTION)
    sub.add_argument("--host", required=True, help="the state database's host, as clients reach it")
    sub.add_argument("--port", type=int, default=5432)
    sub.add_argument("--database", default="pulumi_state")
    sub.add_argument("--role", default="pulumi_state")
    sub.add_argument("--sslmode", default="verify-full", help="libpq sslmode (default verify-full)")
    sub.add_argument("--sslrootcert", help="the CA file that signed the server's certificate")
    sub.add_argument("--sslcert", help="a client certificate file")
    sub.add_argument("--sslkey", help="the client certificate's key file")
    sub.add_argument("--admin-user", default="postgres", help="the administrator who creates them (default postgres)")
    sub.add_argument("--admin-host", help="the administrator's host or socket folder (default --host)")
    sub.add_argument("--password-env", metavar="VARIABLE", help="set the role's password from this variable")
    sub.add_argument("--passfile", help="also write the role's password line into this libpq passfile")
    sub.set_defaults(run=run, command="state-db")
    return sub


def run(args: argparse.Namespace) -> int:
    password = None
    if args.password_env:
        password = os.environ.get(args.password_env)
        if not password:
            raise common.CommandError(f"{args.password_env} is not set; export the state role's password there")
    tls = {k: str(Path(v).resolve()) for k, v in (("sslrootcert", args.sslrootcert), ("sslcert", args.sslcert),
                                                  ("sslkey", args.sslkey)) if v}
    state = state_backend.StateDb(args.host, args.port, args.database, args.role, args.sslmode, tls)
    admin = settings.ConnectionSettings(args.admin_host or args.host, args.port, "postgres", args.admin_user,
                                        None, args.sslmode if not args.admin_host else "prefer",
                                        **({} if args.admin_host else tls))  # the password: libpq's environment
    with admin.connect(application_name="fkguard-state-db") as conn:
        for line in state_backend.ensure(conn, state, password):
            print(f"fkguard state-db: {line}")
    if args.passfile and password:
        state_backend.write_passfile(Path(args.passfile), state, password)
        print(f"fkguard state-db: the role's password is in {args.passfile} (mode 0600)")
    print(f"export PULUMI_BACKEND_URL='{state.backend_url()}'")
    print(f"export PGPASSFILE='{Path(args.passfile).resolve() if args.passfile else '<a passfile, mode 0600>'}'"
          f"  # line: {state.passfile_line('<password>')}")
    return 0
