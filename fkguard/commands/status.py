"""`fkguard status -s STACK`: each constraint's state in the database, in the stack's state and in its config."""

from __future__ import annotations

import argparse
import json
from typing import Any

from fkguard import status
from fkguard.commands import common

HELP = "each constraint's state in the database, in the stack's state and in its config"


def add_parser(subparsers: common.Subparsers) -> argparse.ArgumentParser:
    sub = common.add_command(subparsers, "status", HELP, run)
    sub.add_argument("--json", action="store_true", help="machine-readable output")
    return sub


def _note(row: dict[str, Any]) -> str:
    if row["differs"]:  # refresh records the database's definition, then up puts back the catalog's
        return f"drift: definition differs: {'; '.join(row['differs'])}: pulumi up --refresh restores it"
    if row["drift"]:
        return "drift: run pulumi refresh"
    return f"stays not valid: {row['kept_not_valid']}" if row["kept_not_valid"] else ""


def run(args: argparse.Namespace) -> int:
    context = common.load_stack(args.stack)
    rows = status.constraints(context)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    common.print_table(["constraint", "tier", "database", "stack", "config", ""],
                       [[r["constraint"], r["tier"], r["database"], r["stack"], r["config"], _note(r)] for r in rows])
    counts = {s: sum(r["database"] == s for r in rows) for s in ("validated", "not valid", "absent")}
    drifted = sum(bool(r["differs"]) for r in rows)
    print(f"\n{args.stack}: {counts['validated']} validated, {counts['not valid']} not valid, "
          f"{counts['absent']} absent in the database" + (f"; {drifted} defined otherwise than the catalog"
                                                           if drifted else ""))
    for fk in (fk for fk in context.catalog if fk.waivers):
        print(f"{fk.label}: " + "; ".join(f"policy {w}" for w in fk.waivers))
    return 0
