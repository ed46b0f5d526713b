"""`fkguard debt -s STACK`: the orphans accepted as debt for the stack, and which entries are no longer needed."""

from __future__ import annotations

import argparse

from fkguard import debt
from fkguard.commands import common

HELP = "the orphans accepted as debt for the stack, and which entries are no longer needed"


def add_parser(subparsers: common.Subparsers) -> argparse.ArgumentParser:
    sub = common.add_command(subparsers, "debt", HELP, run)
    sub.add_argument("--prune", action="store_true", help="remove the entries no longer needed")
    sub.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    return sub


def run(args: argparse.Namespace) -> int:
    context = common.load_stack(args.stack)
    entries = context.debts.of_stack(args.stack)
    with context.session() as conn:
        reviews = context.debts.review(conn, args.stack, context.catalog)
    common.print_table(["constraint", "accepted", "orphans now", "", "reason", "by", "on"],
                       [[r.entry.constraint, r.entry.orphans, "n/a" if r.orphans is None else r.orphans,
                         f"stale: {r.stale}" if r.stale else "needed", r.entry.reason, r.entry.accepted_by,
                         r.entry.accepted_on] for r in reviews])
    stale = {r.entry.constraint for r in reviews if r.stale}
    if args.prune and stale:
        if not common.confirm(f"Remove {len(stale)} entries ({', '.join(sorted(stale))}) from {debt.FILE_NAME}?",
                              args.yes):
            print("fkguard debt: nothing changed")
            return 1
        gone = context.debts.remove(args.stack, stale)
        print(f"\nfkguard debt: removed {len(gone)} stale entries from {debt.FILE_NAME} ({', '.join(sorted(stale))}); "
              f"commit it. Their tiers' validation now includes them")
    elif stale:
        print(f"\n{len(stale)} entries are no longer needed: fkguard debt -s {args.stack} --prune removes them")
    else:
        print(f"\n{args.stack}: {len(entries)} entries of accepted debt, all still needed")
    return 0
