"""The fkguard command: `fkguard <command> -s STACK`, run from the project folder."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from fkguard.commands import (
    audit,
    debt,
    discover,
    fleet,
    init,
    monitor,
    remediate,
    rollback,
    seed,
    state_db,
    status,
    verify,
)
from fkguard.errors import EXPECTED, describe

# In the order `fkguard --help` lists them.
COMMANDS = (init, state_db, seed, status, audit, remediate, monitor, verify, debt, discover, rollback, fleet)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fkguard", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `fkguard audit | head` ends quietly
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except EXPECTED as exc:  # a refusal, or PostgreSQL's: one line. Anything else is a bug: its traceback shows
        print(f"fkguard {args.command}: {describe(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
