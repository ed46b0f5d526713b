"""The fkguard command: `fkguard <command> -s STACK`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fkguard import settings
from fkguard.catalog import CatalogError, load_catalog


def _seed(args: argparse.Namespace) -> int:
    from fkguard.apms.generate import generate, row_counts

    catalog = load_catalog(args.catalog)
    row_counts(args.scale)  # refuses a bad scale before touching the database
    conn_settings = settings.from_stack(args.stack)
    print(f"fkguard seed: resetting the APMS schema in {conn_settings.describe()}", file=sys.stderr)
    with conn_settings.connect() as conn:
        counts = generate(conn, args.scale, {fk: args.orphans for fk in catalog})
    print(f"fkguard seed: {sum(counts.values()):,} rows in {len(counts)} tables", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fkguard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    seed = commands.add_parser(
        "seed", help="recreate the APMS test schema and fill it (destroys those 17 tables: test databases only)"
    )
    seed.add_argument("-s", "--stack", required=True, help="the stack whose postgresql:* settings to use")
    seed.add_argument("--scale", type=int, default=20000, help="rows in the largest table (default 20000)")
    seed.add_argument("--orphans", type=int, default=0, help="orphan rows to plant per relationship (default 0)")
    seed.add_argument("--catalog", default=None, help="catalog file (default: the plan's 16 foreign keys)")
    seed.set_defaults(run=_seed)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CatalogError, settings.SettingsError, ValueError) as exc:
        print(f"fkguard {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
