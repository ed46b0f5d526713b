"""The fkguard command: `fkguard <command> -s STACK`, run from the project folder."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from fkguard import (
    indexes,
    settings,
    stack_context,
    stack_secrets,
    stackstate,
)
from fkguard.catalog import TIERS, CatalogError
from fkguard.commands import audit as audit_command
from fkguard.commands import common
from fkguard.commands import debt as debt_command
from fkguard.commands import monitor as monitor_command
from fkguard.commands import remediate as remediate_command
from fkguard.commands import seed as seed_command
from fkguard.commands import status as status_command
from fkguard.commands import verify as verify_command
from fkguard.errors import EXPECTED, one_line


def _rollback(args: argparse.Namespace) -> int:
    context = common.load_stack(args.stack)
    catalog, project = context.catalog, context.project_dir
    named = set(common.selected(catalog, args.constraint, args.table)) if args.constraint else set()
    wanted = [fk for fk in catalog if fk.tier in args.tier or fk in named]
    if not wanted:
        raise CatalogError("say what to roll back: --tier <tier> or --constraint <name>")
    resources = stackstate.recorded_resources(args.stack, project)
    recorded = stackstate.constraints_of(resources)
    targets = [recorded[fk.qualified] for fk in wanted if fk.qualified in recorded]
    if not targets:
        print(f"fkguard rollback: none of {', '.join(fk.label for fk in wanted)} is in stack {args.stack}: "
              f"nothing to roll back")
        return 0
    # Everything that depends, directly or not, on what is dropped goes too.
    dependents = stackstate.dependents(resources, {t.urn for t in targets})
    command = ["pulumi", "destroy", "--stack", args.stack, "--skip-plugin-pre-install"]
    for t in targets:
        command += ["--target", t.urn]
    # Their supporting indexes go too, when nothing else uses them (fkguard drops only those it built).
    supporting = indexes.serving_only(resources, {t.urn for t in targets} | {r.urn for r in dependents})
    for r in supporting:
        command += ["--target", r.urn]
    if supporting:
        print(f"fkguard rollback: with their supporting indexes: {', '.join(sorted(r.name for r in supporting))}")
    if dependents:
        names = sorted(r.label for r in dependents if r.type == stackstate.RESOURCE_TYPE)
        if names:
            print(f"fkguard rollback: later tiers depend on these, so they go too: {', '.join(names)}")
        command.append("--target-dependents")
    if args.yes:
        command += ["--yes", "--non-interactive"]
    print("fkguard rollback: " + shlex.join(command), flush=True)
    if args.print_only:
        return 0
    if not args.yes and not sys.stdin.isatty():
        raise common.CommandError("nothing dropped: pulumi asks for a confirmation and there is no terminal to answer it; "
                           "add --yes (or --print to see the command only)")
    command[0] = settings.pulumi_cli(project)
    # The CLI, not pulumi.automation's Stack.destroy(target=..., target_dependents=True): that would first
    # `pulumi stack select` the stack (changing the user's selected stack), and always runs --yes
    # --non-interactive, so without --yes pulumi could not show its plan and ask. The printed command is
    # exactly what runs. destroy opens the stack's secrets: the same passphrase rule as every other pulumi
    env = stack_secrets.env_for(args.stack, os.environ, project)
    return subprocess.run(command, check=False, env=env, cwd=project).returncode


def _init(args: argparse.Namespace) -> int:
    from fkguard import init

    if args.password_env:
        password = os.environ.get(args.password_env)
        if not password:
            raise init.InitError(f"{args.password_env} is not set; export the password there, or leave out "
                                 f"--password-env to be prompted")
    elif args.no_password:
        password = None
    elif sys.stdin.isatty():
        password = getpass.getpass(f"Password of {args.username} on {args.host} (stored as a Pulumi secret): ")
    else:
        raise init.InitError("no terminal to ask the password: --password-env <VARIABLE> reads it from the "
                             "environment (or --no-password for peer or certificate authentication)")
    connection = settings.ConnectionSettings.from_config(
        {f"postgresql:{k}": v for k, v in (("host", args.host), ("port", args.port), ("database", args.database),
                                           ("username", args.username), ("password", password),
                                           ("sslmode", args.sslmode)) if v is not None}, stack=f"stack {args.stack!r}")
    request = init.Request(args.stack, connection, args.secrets_provider, args.catalog, args.policy_from, args.force)
    for line in init.init(request, Path.cwd()):
        print(f"fkguard init: {line}")
    print(f"fkguard init: next, fkguard status -s {args.stack}; then fkguard audit -s {args.stack} and "
          f"make policy-check STACK={args.stack}")
    return 0


def _discover(args: argparse.Namespace) -> int:
    from fkguard import discover, discover_catalog

    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not args.force:
        raise common.CommandError(f"{out} exists (a catalog someone may have edited): choose another --out, or add --force "
                           f"to replace it")
    if out is not None and not out.parent.is_dir():
        raise common.CommandError(f"{out.parent} is not a folder: create it, or choose another --out")
    # The connection only: the stack's catalog may not exist yet (discover is what writes it).
    project = stack_context.find_project(Path.cwd())
    conn_settings = settings.ConnectionSettings.from_config(settings.stack_config(args.stack, project),
                                                            stack=f"stack {args.stack!r}")
    with conn_settings.connect(application_name="fkguard-discover") as conn:
        conn.execute("SET default_transaction_read_only = on")  # discover reads; nothing it runs may write
        found = discover.discover(conn, args.schema, progress=common.progress, sample_above=args.sample_above,
                                  sample_rows=args.sample_rows, min_share=args.min_share)
    text = discover_catalog.to_yaml(found, conn_settings.describe())
    if out is not None:
        out.write_text(text)
        common.progress(f"discover: wrote {len(found.proposed)} foreign keys to {args.out}; next: pulumi config set "
                  f"fkguard:catalog {args.out} -s {args.stack}, then fkguard audit -s {args.stack}")
    if args.json:
        print(json.dumps(discover_catalog.as_json(found), indent=2))
    elif not args.out:
        print(text, end="")
    return 0


def _fleet(args: argparse.Namespace) -> int:
    from fkguard import fleet

    return fleet.command(args, common.print_table)


def _state_db(args: argparse.Namespace) -> int:
    from fkguard import state_backend

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fkguard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, run) -> argparse.ArgumentParser:
        return common.add_command(commands, name, help_text, run)

    setup = commands.add_parser("init", help="create a stack: its connection, secrets provider, catalog and policy "
                                "config", description="create a stack: its connection (the password stored only as a "
                                "Pulumi secret), an explicit secrets provider, the catalog and policy-config.<stack>.json")
    setup.add_argument("stack", help="the new stack's name")
    setup.add_argument("--host", required=True)
    setup.add_argument("--port", default="5432")
    setup.add_argument("--database", required=True)
    setup.add_argument("--username", required=True)
    setup.add_argument("--sslmode", default="verify-full", help="libpq sslmode (default verify-full)")
    setup.add_argument("--password-env", metavar="VARIABLE", help="read the password from this environment variable "
                       "(default: prompt)")
    setup.add_argument("--no-password", action="store_true", help="no password (peer or certificate authentication)")
    setup.add_argument("--secrets-provider", default="passphrase",
                       help="passphrase (from PULUMI_CONFIG_PASSPHRASE[_FILE]) or awskms://…, gcpkms://…, "
                            "azurekeyvault://…, hashivault://…")
    setup.add_argument("--catalog", help="the catalog file, relative to the project (default: the plan's 16)")
    setup.add_argument("--policy-from", default="staging", choices=("local", "staging", "production"),
                       help="copy the policy levels of this stack (default staging)")
    setup.add_argument("--force", action="store_true", help="set the connection of an existing stack again")
    setup.set_defaults(run=_init, command="init")

    state = commands.add_parser("state-db", help="create the team's shared Pulumi state database and role "
                                "(idempotent); prints PULUMI_BACKEND_URL", description="create or update the database "
                                "and role of Pulumi's postgres backend, connecting as an administrator through libpq's "
                                "environment (PGPASSWORD or PGPASSFILE); prints the PULUMI_BACKEND_URL to use (no password)")
    state.add_argument("--host", required=True, help="the state database's host, as clients reach it")
    state.add_argument("--port", type=int, default=5432)
    state.add_argument("--database", default="pulumi_state")
    state.add_argument("--role", default="pulumi_state")
    state.add_argument("--sslmode", default="verify-full", help="libpq sslmode (default verify-full)")
    state.add_argument("--sslrootcert", help="the CA file that signed the server's certificate")
    state.add_argument("--sslcert", help="a client certificate file")
    state.add_argument("--sslkey", help="the client certificate's key file")
    state.add_argument("--admin-user", default="postgres", help="the administrator who creates them (default postgres)")
    state.add_argument("--admin-host", help="the administrator's host or socket folder (default --host)")
    state.add_argument("--password-env", metavar="VARIABLE", help="set the role's password from this variable")
    state.add_argument("--passfile", help="also write the role's password line into this libpq passfile")
    state.set_defaults(run=_state_db, command="state-db")

    seed_command.add_parser(commands)

    status_command.add_parser(commands)

    audit_command.add_parser(commands)

    remediate_command.add_parser(commands)

    monitor_command.add_parser(commands)

    verify_command.add_parser(commands)

    debt_command.add_parser(commands)

    find = command("discover", "propose the foreign keys the database is missing, with the evidence for each, as a "
                   "catalog file", _discover)
    find.add_argument("--schema", action="append", default=[], help="only this schema (repeatable; default: all)")
    find.add_argument("--out", help="write the catalog here (default: print it)")
    find.add_argument("--force", action="store_true", help="replace the --out file if it exists")
    find.add_argument("--json", action="store_true", help="every candidate and its evidence as JSON")
    find.add_argument("--min-share", type=float, default=0.9, help="least share of keys with a parent (default 0.9)")
    find.add_argument("--sample-above", type=int, default=100_000, help="sample tables with more rows (default 100000)")
    find.add_argument("--sample-rows", type=int, default=20_000, help="rows to sample from those (default 20000)")

    rollback = command("rollback", "drop constraints with pulumi destroy --target (prints the command, then runs it)",
                       _rollback)
    rollback.add_argument("--tier", action="append", default=[], choices=TIERS, help="roll back a whole tier")
    rollback.add_argument("--constraint", action="append", default=[], help="roll back one constraint: its name, or "
                          "schema.table.name where keys of other tables share the name")
    rollback.add_argument("--table", help="with --constraint: the key of that name on this table (schema.table)")
    rollback.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rollback.add_argument("--print", dest="print_only", action="store_true", help="print the command only")

    fleet = commands.add_parser("fleet", help="one rollout across many stacks: a fleet file's waves, a bounded number "
                                "at a time, through the policy pack (docs/fleet.md)",
                                description="preview or up every stack of a fleet file through the policy pack, wave "
                                "by wave, stopping at the first failure; or the status of each (docs/fleet.md)")
    fleet.add_argument("action", choices=("preview", "up", "status"))
    fleet.add_argument("-f", "--file", required=True, type=Path, help="the fleet file (YAML)")
    fleet.add_argument("--parallel", type=int, help="stacks at a time in every wave (default: the file's)")
    fleet.add_argument("--json", action="store_true", help="machine-readable output")
    fleet.add_argument("--log-dir", type=Path, help="each stack's pulumi output goes to <stack>.log here "
                       "(default: a new temporary folder)")
    fleet.set_defaults(run=_fleet, command="fleet")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `fkguard audit | head` ends quietly
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except EXPECTED as exc:  # a refusal, or PostgreSQL's: one line. Anything else is a bug: its traceback shows
        print(f"fkguard {args.command}: {one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
