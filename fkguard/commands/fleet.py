"""`fkguard fleet preview|up|status -f FILE`: one rollout across many stacks, wave by wave (fkguard.fleet)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from fkguard import fleet
from fkguard.commands import common

HELP = ("one rollout across many stacks: a fleet file's waves, a bounded number at a time, through the policy pack "
        "(docs/fleet.md)")
DESCRIPTION = ("preview or up every stack of a fleet file through the policy pack, wave by wave, stopping at the "
               "first failure; or the status of each (docs/fleet.md)")


def add_parser(subparsers: common.Subparsers) -> argparse.ArgumentParser:
    sub = subparsers.add_parser("fleet", help=HELP, description=DESCRIPTION)
    sub.add_argument("action", choices=fleet.COMMANDS)
    sub.add_argument("-f", "--file", required=True, type=Path, help="the fleet file (YAML)")
    sub.add_argument("--parallel", type=int, help="stacks at a time in every wave (default: the file's)")
    sub.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_argument("--log-dir", type=Path, help="each stack's pulumi output goes to <stack>.log here "
                     "(default: a new temporary folder)")
    sub.set_defaults(run=run, command="fleet")
    return sub


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every stack succeeded, 1 otherwise (2: refused, by fkguard.cli.main)."""
    if args.parallel is not None:
        fleet.check_parallel(args.parallel, "--parallel")
    waves = fleet.load(args.file)
    project_dir = common.project_dir()
    plan = fleet.resolve(waves, fleet.stacks_of(project_dir))
    if args.action == "status":
        return _status(plan, project_dir, args)
    outcome = fleet.roll(plan, args.action, project_dir, args.log_dir, args.parallel, common.progress)
    if args.json:
        print(json.dumps(outcome.as_dict(), indent=2))
    else:
        common.print_table(*fleet.table(outcome))
        print(f"\n{fleet.verdict(outcome)}")
    return 0 if outcome.ok else 1


def _status(plan: Sequence[tuple[fleet.Wave, list[str]]], project_dir: Path, args: argparse.Namespace) -> int:
    found = fleet.status(plan, project_dir, args.parallel)
    if args.json:
        print(json.dumps({"command": "status", "ok": not any(s.error for s in found),
                          "stacks": [s.as_dict() for s in found]}, indent=2))
    else:
        common.print_table(*fleet.status_table(found))
    return 1 if any(s.error for s in found) else 0
