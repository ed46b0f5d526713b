"""`fkguard rollback -s STACK`: drop constraints with pulumi destroy --target (prints the command, then runs it)."""

from __future__ import annotations

import argparse
import shlex
import sys

from fkguard import rollback
from fkguard.catalog import TIERS, CatalogError
from fkguard.commands import common

HELP = "drop constraints with pulumi destroy --target (prints the command, then runs it)"


def add_parser(subparsers: common.Subparsers) -> argparse.ArgumentParser:
    sub = common.add_command(subparsers, "rollback", HELP, run)
    sub.add_argument("--tier", action="append", default=[], choices=TIERS, help="roll back a whole tier")
    sub.add_argument("--constraint", action="append", default=[], help="roll back one constraint: its name, or "
                     "schema.table.name where keys of other tables share the name")
    sub.add_argument("--table", help="with --constraint: the key of that name on this table (schema.table)")
    sub.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    sub.add_argument("--print", dest="print_only", action="store_true", help="print the command only")
    return sub


def run(args: argparse.Namespace) -> int:
    context = common.load_stack(args.stack)
    catalog = context.catalog
    named = set(common.selected(context, args.constraint, args.table)) if args.constraint else set()
    wanted = [fk for fk in catalog if fk.tier in args.tier or fk in named]
    if not wanted:
        raise CatalogError("say what to roll back: --tier <tier> or --constraint <name>")
    planned = rollback.plan(args.stack, context.project_dir, wanted)
    if not planned.targets:
        print(f"fkguard rollback: none of {', '.join(fk.label for fk in wanted)} is in stack {args.stack}: "
              f"nothing to roll back")
        return 0
    command = planned.command(args.stack, args.yes)
    if planned.supporting:
        print(f"fkguard rollback: with their supporting indexes: {', '.join(sorted(r.name for r in planned.supporting))}")
    if planned.dependent_constraints:
        print(f"fkguard rollback: later tiers depend on these, so they go too: "
              f"{', '.join(planned.dependent_constraints)}")
    print("fkguard rollback: " + shlex.join(command), flush=True)
    if args.print_only:
        return 0
    if not args.yes and not sys.stdin.isatty():
        raise common.CommandError("nothing dropped: pulumi asks for a confirmation and there is no terminal to "
                                  "answer it; add --yes (or --print to see the command only)")
    return rollback.destroy(command, args.stack, context.project_dir)
