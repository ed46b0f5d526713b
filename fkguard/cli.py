"""The fkguard command: `fkguard <command> -s STACK`, run from the project folder."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from fkguard.commands import audit as audit_command
from fkguard.commands import common
from fkguard.commands import debt as debt_command
from fkguard.commands import discover as discover_command
from fkguard.commands import init as init_command
from fkguard.commands import monitor as monitor_command
from fkguard.commands import remediate as remediate_command
from fkguard.commands import rollback as rollback_command
from fkguard.commands import seed as seed_command
from fkguard.commands import state_db as state_db_command
from fkguard.commands import status as status_command
from fkguard.commands import verify as verify_command
from fkguard.errors import EXPECTED, one_line


def _fleet(args: argparse.Namespace) -> int:
    from fkguard import fleet

    return fleet.command(args, common.print_table)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fkguard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, run) -> argparse.ArgumentParser:
        return common.add_command(commands, name, help_text, run)

    init_command.add_parser(commands)

    state_db_command.add_parser(commands)

    seed_command.add_parser(commands)

    status_command.add_parser(commands)

    audit_command.add_parser(commands)

    remediate_command.add_parser(commands)

    monitor_command.add_parser(commands)

    verify_command.add_parser(commands)

    debt_command.add_parser(commands)

    discover_command.add_parser(commands)

    rollback_command.add_parser(commands)

    fleet = commands.add_parser("fleet", help="one rollout across many stacks: a fleet file's waves, a bounded number "
                                "at a time, through the policy pack (docs/fleet.md)",
                                description="preview or up every stack of a fleet file through the policy pack, wave "
                                "by wave, stopping at the first failure; or the status of each (docs/fleet.md)")
    fleet.add_argument("action", choices=("preview", "up", "status"))
    fleet.add_argument("-f", "--file", required=True, type=Path, help="the fleet file (YAML)")
    fleet.add_argument("--parallel", type=int, help="stacks at a time in every wave (default: the file's)")
    fleet.add_argument("--json", action="store_true", help="machine-readable output")
    fleet.add_argument("--log-dir", type=Path, help="each stack's pulumi output goes to <stack>.log here "
                       "(default: a new temporary folder)")
    fleet.set_defaults(run=_fleet, command="fleet")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `fkguard audit | head` ends quietly
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except EXPECTED as exc:  # a refusal, or PostgreSQL's: one line. Anything else is a bug: its traceback shows
        print(f"fkguard {args.command}: {one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
