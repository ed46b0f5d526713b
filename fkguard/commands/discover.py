"""`fkguard discover -s STACK`: propose the foreign keys the database is missing, as a catalog file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fkguard import discover
from fkguard.commands import common
from fkguard.discover import catalog as discover_catalog
from fkguard.stack.config import StackConfig

HELP = "propose the foreign keys the database is missing, with the evidence for each, as a catalog file"


def add_parser(subparsers: common.Subparsers) -> argparse.ArgumentParser:
    sub = common.add_command(subparsers, "discover", HELP, run)
    sub.add_argument("--schema", action="append", default=[], help="only this schema (repeatable; default: all)")
    sub.add_argument("--out", help="write the catalog here (default: print it)")
    sub.add_argument("--force", action="store_true", help="replace the --out file if it exists")
    sub.add_argument("--json", action="store_true", help="every candidate and its evidence as JSON")
    sub.add_argument("--min-share", type=float, default=0.9, help="least share of keys with a parent (default 0.9)")
    sub.add_argument("--sample-above", type=int, default=100_000, help="sample tables with more rows (default 100000)")
    sub.add_argument("--sample-rows", type=int, default=20_000, help="rows to sample from those (default 20000)")
    return sub


def _out(args: argparse.Namespace) -> Path | None:
    """Where the catalog goes, refused before the (long) discovery rather than after it."""
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not args.force:
        raise common.CommandError(f"{out} exists (a catalog someone may have edited): choose another --out, or add "
                                  f"--force to replace it")
    if out is not None and not out.parent.is_dir():
        raise common.CommandError(f"{out.parent} is not a folder: create it, or choose another --out")
    return out


def run(args: argparse.Namespace) -> int:
    out = _out(args)
    # The connection only: the stack's catalog may not exist yet (discover is what writes it).
    conn_settings = StackConfig.of_stack(args.stack, common.project_dir()).connection
    with conn_settings.connect(application_name="fkguard-discover") as conn:
        # discover reads: each transaction it opens, where it reads the data, is BEGIN READ ONLY. Not a session
        # SET: through a transaction pooler that would make other clients' transactions read-only.
        conn.read_only = True
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
