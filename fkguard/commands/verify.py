"""`fkguard verify -s STACK`: the runbook counts and the Phase 3.3 behaviour checks, all rolled back."""

from __future__ import annotations

import argparse
import json

from fkguard import verify
from fkguard.commands import common

HELP = "the runbook counts and the Phase 3.3 behaviour checks (rolled back); exit 1 when something is wrong"


def add_parser(subparsers: common.Subparsers) -> argparse.ArgumentParser:
    sub = common.add_command(subparsers, "verify", HELP, run)
    sub.add_argument("--json", action="store_true", help="machine-readable output")
    return sub


def run(args: argparse.Namespace) -> int:
    context = common.load_stack(args.stack)
    options = context.options
    with context.session() as conn:
        summary, checks = verify.verify(conn, context.catalog, options, options.lock_timeout_ms, context.debts,
                                        args.stack)
    failed = [c for c in checks if not c.ok]
    accepted = [c for c in checks if c.accepted]
    if args.json:
        print(json.dumps({"stack": args.stack, **summary, "ok": not failed,
                          "checks": [{**c.__dict__, "verdict": c.verdict} for c in checks]}, indent=2))
        return 1 if failed else 0
    common.print_table(["count", "value"], [[k.replace("_", " "), v] for k, v in summary.items()])
    print()
    common.print_table(["check", "", "detail"], [[c.name, c.verdict, c.detail] for c in checks])
    print(f"\n{args.stack}: {len(checks) - len(failed) - len(accepted)} of {len(checks)} checks passed"
          + (f"; {len(accepted)} accepted as debt" if accepted else "")
          + (f"; {len(failed)} failed" if failed else ""))
    return 1 if failed else 0
