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
    audit,
    debt,
    indexes,
    remediate,
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
from fkguard.commands import seed as seed_command
from fkguard.commands import status as status_command
from fkguard.commands import verify as verify_command
from fkguard.errors import EXPECTED, FkguardError, one_line
from fkguard.locks import LockPolicy


def _remediate(args: argparse.Namespace) -> int:
    context = common.load_stack(args.stack)
    conn_settings, options, catalog = context.connection, context.options, context.catalog
    policy = LockPolicy.from_options(options)  # the same lock and statement budget as every other statement
    with conn_settings.connect() as conn:
        if args.list:
            common.print_table(["batch", "constraint", "table", "action", "rows", "quarantined at", "restored"],
                         [[b.batch, b.constraint_name, f"{b.schema}.{b.table}", b.action, b.rows, b.quarantined_at,
                           "yes" if b.restored else ""] for b in remediate.batches(conn)])
            return 0
        if args.undo:
            parts = [b for b in remediate.batches(conn) if b.batch == args.undo]
            rows = sum(b.rows for b in parts if not b.restored)
            if parts and not common.confirm(f"Put {rows} rows of batch {args.undo} back?", args.yes):
                print("fkguard remediate: nothing changed")
                return 1
            print(f"fkguard remediate: put back {remediate.undo(conn, args.undo, policy)} rows of batch {args.undo}")
            return 0
        if not args.action:
            raise remediate.RemediationError("say what to do: --action delete, nullify or accept (or --undo, --list)")
        if not args.constraint and not args.all:
            raise remediate.RemediationError("say which relationships: --constraint <name> (repeatable) or --all")
        chosen = common.selected(catalog, args.constraint, args.table)
        # Every relationship is planned, against the whole catalog, before the first one changes anything.
        plans, refusals = [], []
        for fk in chosen:
            count, refusal = remediate.plan(conn, fk, args.action, catalog)
            if count and refusal:
                refusals.append(f"{fk.label}: {refusal}")
            elif count:
                plans.append((fk, count))
        if refusals:
            for line in refusals[:-1]:
                print(f"fkguard remediate: {line}", file=sys.stderr)
            if args.all and args.action == "delete":
                refusals[-1] += (". With --all, remediate the referencing rows first (or those relationships on "
                                 "their own with --constraint), then run --all again")
            raise remediate.RemediationError(refusals[-1] + (f" ({len(refusals)} relationships refused; nothing "
                                                             f"changed)" if len(refusals) > 1 else ""))
        if not plans:
            print(f"fkguard remediate: no orphans in {len(chosen)} relationships: nothing to do")
            return 0
        for fk, count in plans:
            what = {"delete": "copy to quarantine, then delete", "nullify": "copy to quarantine, then set to NULL",
                    "accept": "record as accepted debt in " + debt.FILE_NAME}[args.action]
            print(f"  {fk.label}: {count} orphan rows of {fk.table}: {what}")
        if args.action == "accept" and not (args.reason or "").strip():
            raise debt.DebtError("accepting orphans as debt needs a reason: --reason '<why, and the ticket>'")
        if not common.confirm(f"{args.action} {sum(c for _, c in plans)} rows in {len(plans)} relationships?", args.yes):
            print("fkguard remediate: nothing changed")
            return 1
        if args.action == "accept":
            for fk, count in plans:
                debt.record(context.project_dir, fk.label, args.stack, count, args.reason)
            print(f"fkguard remediate: recorded in {debt.FILE_NAME}; commit it. The orphan gate lets these "
                  f"constraints in NOT VALID; they cannot be validated while the orphans remain")
            return 0
        batch = remediate.new_batch()
        done = {"delete": "deleted", "nullify": "their key set to NULL"}[args.action]
        for applied, (fk, _) in enumerate(plans):
            try:
                result = remediate.apply(conn, fk, args.action, batch, catalog, policy)
            except FkguardError as exc:  # refused, or gave up on a lock: this relationship changed nothing
                if applied:  # the relationships before this one are done, each in its own transaction
                    raise remediate.RemediationError(f"{exc}; the {applied} relationships before it are in batch "
                                                     f"{batch} (undo: fkguard remediate -s {args.stack} --undo "
                                                     f"{batch})", constraint=fk.label) from None
                raise
            common.progress(f"remediate: {fk.label}: {result.rows} rows copied to quarantine and {done}")
        print(f"fkguard remediate: batch {batch} (undo: fkguard remediate -s {args.stack} --undo {batch})")
        # The plan's Step 1.3: removing a parent can orphan its own children, so look again.
        left = {fk.label: n for fk in catalog if (n := audit.audit_one(conn, fk, 0).orphans)}
        if not left:
            print(f"fkguard remediate: re-audit: no orphans left in the {len(catalog)} relationships")
            return 0
        print(f"fkguard remediate: re-audit: orphans remain in {len(left)} relationships (a removed parent can "
              f"orphan its children): {', '.join(f'{k} {v}' for k, v in left.items())}")
        return 1 if set(left) & {fk.label for fk, _ in plans} else 0
    return 0


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

    fix = command("remediate", "delete, nullify or accept orphans; rows are copied to a quarantine table first",
                  _remediate)
    fix.add_argument("--action", choices=("delete", "nullify", "accept"), help="what to do with the orphans")
    fix.add_argument("--constraint", action="append", default=[], help="the relationship (repeatable): its name, "
                     "or schema.table.name where keys of other tables share the name")
    fix.add_argument("--table", help="with --constraint: the key of that name on this table (schema.table)")
    fix.add_argument("--all", action="store_true", help="every relationship of the catalog")
    fix.add_argument("--reason", help="why the orphans are accepted (with --action accept)")
    fix.add_argument("--undo", metavar="BATCH", help="put a quarantined batch back exactly")
    fix.add_argument("--list", action="store_true", help="list the quarantine batches")
    fix.add_argument("--yes", action="store_true", help="do not ask for confirmation")

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
