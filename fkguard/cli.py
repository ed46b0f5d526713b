"""The fkguard command: `fkguard <command> -s STACK`, run from the project folder."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from fkguard import live, settings, stackstate
from fkguard.catalog import TIERS, CatalogError, ForeignKey, load_catalog
from fkguard.options import Options, OptionsError


def _stack_context(stack: str) -> tuple[settings.ConnectionSettings, Options, list[ForeignKey]]:
    """The connection, the fkguard:* options and the catalog of a stack: the same the program sees."""
    config = settings.stack_config(stack)
    where = f"stack {stack!r}"
    options = Options.from_config(config, stack=where)
    return settings.ConnectionSettings.from_config(config, stack=where), options, load_catalog(options.catalog)


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    for line in (headers, ["-" * w for w in widths], *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _seed(args: argparse.Namespace) -> int:
    from fkguard.apms.generate import generate, row_counts

    row_counts(args.scale)  # refuses a bad scale before touching the database
    conn_settings, options, catalog = _stack_context(args.stack)
    if args.catalog:
        catalog = load_catalog(args.catalog)
    print(f"fkguard seed: resetting the APMS schema in {conn_settings.describe()}", file=sys.stderr)
    with conn_settings.connect() as conn:
        counts = generate(conn, args.scale, {fk: args.orphans for fk in catalog})
    print(f"fkguard seed: {sum(counts.values()):,} rows in {len(counts)} tables", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    conn_settings, options, catalog = _stack_context(args.stack)
    recorded = stackstate.recorded_constraints(args.stack)
    rows = []
    with conn_settings.connect() as conn:
        for fk in catalog:
            found = live.read_constraint(conn, fk.table, fk.name) if live.table_exists(conn, fk.table) else None
            in_db = "absent" if found is None else ("validated" if found.validated else "not valid")
            in_stack = recorded[fk.name].state if fk.name in recorded else "absent"
            wanted = ("validated" if fk.tier in options.validate_tiers
                      else "not valid" if fk.tier in options.add_tiers else "absent")
            rows.append({"constraint": fk.name, "tier": fk.tier, "database": in_db, "stack": in_stack,
                         "config": wanted, "drift": in_db != in_stack})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table(["constraint", "tier", "database", "stack", "config", ""],
                     [[r["constraint"], r["tier"], r["database"], r["stack"], r["config"],
                       "drift: run pulumi refresh" if r["drift"] else ""] for r in rows])
        counts = {s: sum(r["database"] == s for r in rows) for s in ("validated", "not valid", "absent")}
        print(f"\n{args.stack}: {counts['validated']} validated, {counts['not valid']} not valid, "
              f"{counts['absent']} absent in the database")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    _, _, catalog = _stack_context(args.stack)
    known = {fk.name for fk in catalog}
    unknown = [n for n in args.constraint if n not in known]
    if unknown:
        raise CatalogError(f"{', '.join(unknown)} is not in the stack's catalog; fkguard status -s {args.stack} lists them")
    wanted = [fk.name for fk in catalog if fk.tier in args.tier or fk.name in args.constraint]
    if not wanted:
        raise CatalogError("say what to roll back: --tier <tier> or --constraint <name>")
    recorded = stackstate.recorded_constraints(args.stack)
    targets = [recorded[n] for n in wanted if n in recorded]
    if not targets:
        print(f"fkguard rollback: none of {', '.join(wanted)} is in stack {args.stack}: nothing to roll back")
        return 0
    urns = {t.urn for t in targets}
    dependents, grew = set(), True
    while grew:  # everything that depends, directly or not, on what is dropped goes too
        grew = False
        for r in recorded.values():
            if r.urn not in urns | dependents and set(r.dependencies) & (urns | dependents):
                dependents.add(r.urn)
                grew = True
    command = ["pulumi", "destroy", "--stack", args.stack, "--skip-plugin-pre-install"]
    for t in targets:
        command += ["--target", t.urn]
    if dependents:
        names = sorted(r.name for r in recorded.values() if r.urn in dependents)
        print(f"fkguard rollback: later tiers depend on these, so they go too: {', '.join(names)}")
        command.append("--target-dependents")
    if args.yes:
        command += ["--yes", "--non-interactive"]
    print("fkguard rollback: " + shlex.join(command), flush=True)
    if args.print_only:
        return 0
    command[0] = settings.pulumi_cli(Path.cwd())
    return subprocess.run(command, check=False).returncode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fkguard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, run) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("-s", "--stack", required=True, help="the stack (local, staging, production, ...)")
        sub.set_defaults(run=run)
        return sub

    seed = command("seed", "recreate the APMS test schema and fill it (drops those 17 tables: test databases only)",
                   _seed)
    seed.add_argument("--scale", type=int, default=20000, help="rows in the largest table (default 20000)")
    seed.add_argument("--orphans", type=int, default=0, help="orphan rows to plant per relationship (default 0)")
    seed.add_argument("--catalog", default=None, help="catalog whose relationships get orphans (default: the stack's)")

    status = command("status", "each constraint's state in the database, in the stack's state and in its config",
                     _status)
    status.add_argument("--json", action="store_true", help="machine-readable output")

    rollback = command("rollback", "drop constraints with pulumi destroy --target (prints the command, then runs it)",
                       _rollback)
    rollback.add_argument("--tier", action="append", default=[], choices=TIERS, help="roll back a whole tier")
    rollback.add_argument("--constraint", action="append", default=[], help="roll back one constraint by name")
    rollback.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rollback.add_argument("--print", dest="print_only", action="store_true", help="print the command only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CatalogError, settings.SettingsError, OptionsError, ValueError) as exc:
        print(f"fkguard {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
