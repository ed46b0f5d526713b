"""`fkguard seed -s STACK`: recreate the APMS test schema and fill it, with orphans planted on request."""

from __future__ import annotations

import argparse
import sys

from fkguard.apms.generate import generate, row_counts
from fkguard.catalog import load_catalog
from fkguard.commands import common

HELP = "recreate the APMS test schema and fill it (drops those 17 tables: test databases only)"


def add_parser(subparsers: common.Subparsers) -> argparse.ArgumentParser:
    sub = common.add_command(subparsers, "seed", HELP, run)
    sub.add_argument("--scale", type=int, default=20000, help="rows in the largest table (default 20000)")
    sub.add_argument("--orphans", type=int, default=0, help="orphan rows to plant per relationship (default 0)")
    sub.add_argument("--catalog", default=None, help="catalog whose relationships get orphans (default: the stack's)")
    return sub


def run(args: argparse.Namespace) -> int:
    row_counts(args.scale)  # refuses a bad scale before touching the database
    context = common.load_stack(args.stack)
    conn_settings, catalog = context.connection, context.catalog
    if args.catalog:
        catalog = load_catalog(args.catalog)
    print(f"fkguard seed: resetting the APMS schema in {conn_settings.describe()}", file=sys.stderr)
    with context.session() as conn:
        counts = generate(conn, args.scale, {fk: args.orphans for fk in catalog})
    print(f"fkguard seed: {sum(counts.values()):,} rows in {len(counts)} tables", file=sys.stderr)
    return 0
