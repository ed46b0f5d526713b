"""`fkguard remediate -s STACK`: delete, nullify or accept orphans, every removed row copied to quarantine first;
list the quarantine batches, or put one back."""

from __future__ import annotations

import argparse
import sys

import psycopg

from fkguard import debt, quarantine, remediate, remediation_plan
from fkguard.commands import common
from fkguard.locks import LockPolicy
from fkguard.stack.context import StackContext

HELP = "delete, nullify or accept orphans; rows are copied to a quarantine table first"
WHAT = {"delete": "copy to quarantine, then delete", "nullify": "copy to quarantine, then set to NULL",
        "accept": "record as accepted debt in " + debt.FILE_NAME}


def add_parser(subparsers: common.Subparsers) -> argparse.ArgumentParser:
    sub = common.add_command(subparsers, "remediate", HELP, run)
    sub.add_argument("--action", choices=("delete", "nullify", "accept"), help="what to do with the orphans")
    sub.add_argument("--constraint", action="append", default=[], help="the relationship (repeatable): its name, "
                     "or schema.table.name where keys of other tables share the name")
    sub.add_argument("--table", help="with --constraint: the key of that name on this table (schema.table)")
    sub.add_argument("--all", action="store_true", help="every relationship of the catalog")
    sub.add_argument("--reason", help="why the orphans are accepted (with --action accept)")
    sub.add_argument("--undo", metavar="BATCH", help="put a quarantined batch back exactly")
    sub.add_argument("--list", action="store_true", help="list the quarantine batches")
    sub.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    return sub


def run(args: argparse.Namespace) -> int:
    context = common.load_stack(args.stack)
    policy = LockPolicy.from_options(context.options)  # the same lock and statement budget as every other statement
    with context.session() as conn:
        if args.list:
            common.print_table(["batch", "constraint", "table", "action", "rows", "quarantined at", "restored"],
                               [[b.batch, b.constraint_name, f"{b.schema}.{b.table}", b.action, b.rows, b.quarantined_at,
                                 "yes" if b.restored else ""] for b in quarantine.batches(conn)])
            return 0
        if args.undo:
            return _undo(conn, args, policy)
        return _remediate(conn, args, context, policy)


def _undo(conn: psycopg.Connection, args: argparse.Namespace, policy: LockPolicy) -> int:
    parts = [b for b in quarantine.batches(conn) if b.batch == args.undo]
    rows = sum(b.rows for b in parts if not b.restored)
    if parts and not common.confirm(f"Put {rows} rows of batch {args.undo} back?", args.yes):
        print("fkguard remediate: nothing changed")
        return 1
    print(f"fkguard remediate: put back {quarantine.undo(conn, args.undo, policy)} rows of batch {args.undo}")
    return 0


def _remediate(conn: psycopg.Connection, args: argparse.Namespace, context: StackContext, policy: LockPolicy) -> int:
    if not args.action:
        raise remediate.RemediationError("say what to do: --action delete, nullify or accept (or --undo, --list)")
    if not args.constraint and not args.all:
        raise remediate.RemediationError("say which relationships: --constraint <name> (repeatable) or --all")
    # What a removal may orphan is every relationship of the catalog, the other stacks' of a split one too.
    catalog = context.whole_catalog
    planned = remediation_plan.plan(conn, common.selected(context, args.constraint, args.table), args.action, catalog)
    if planned.refusals:
        for line in planned.refusals[:-1]:
            print(f"fkguard remediate: {line}", file=sys.stderr)
        raise planned.refused(args.all)
    if not planned.steps:
        print(f"fkguard remediate: no orphans in {planned.asked} relationships: nothing to do")
        return 0
    for fk, count in planned.steps:
        print(f"  {fk.label}: {count} orphan rows of {fk.table}: {WHAT[args.action]}")
    if args.action == "accept" and not (args.reason or "").strip():
        raise debt.DebtError("accepting orphans as debt needs a reason: --reason '<why, and the ticket>'")
    if not common.confirm(f"{args.action} {planned.rows} rows in {len(planned.steps)} relationships?", args.yes):
        print("fkguard remediate: nothing changed")
        return 1
    if args.action == "accept":
        remediation_plan.accept(context.project_dir, planned, args.stack, args.reason)
        print(f"fkguard remediate: recorded in {debt.FILE_NAME}; commit it. The orphan gate lets these "
              f"constraints in NOT VALID; they cannot be validated while the orphans remain")
        return 0
    before = remediation_plan.reaudit(conn, catalog)
    batch = remediation_plan.apply(conn, planned, catalog, policy, args.stack, common.progress)
    print(f"fkguard remediate: batch {batch} (undo: fkguard remediate -s {args.stack} --undo {batch})")
    left = remediation_plan.reaudit(conn, catalog)
    if not left:
        print(f"fkguard remediate: re-audit: no orphans left in the {len(catalog)} relationships")
        return 0
    for line in remediation_plan.describe_left(left, before, planned.labels):
        print(f"fkguard remediate: re-audit: {line}")
    return 1 if set(left) & planned.labels else 0
