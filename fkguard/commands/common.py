"""What every command shares: how a stack is read, how a table and progress are printed, how keys are
chosen and a change is confirmed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fkguard.catalog import CatalogError, ForeignKey, find
from fkguard.errors import FkguardError
from fkguard.remediate import RemediationError
from fkguard.stack import context as stack_context
from fkguard.stack import project

Run = Callable[[argparse.Namespace], int]
# argparse's own type for the object add_subparsers() returns is private.
Subparsers = Any


class CommandError(FkguardError):
    """A command refused before it changed anything; the message says what to do instead."""


def project_dir() -> Path:
    """The project folder, found from the current folder as pulumi finds it, whatever subfolder fkguard runs in."""
    return project.find()


def load_stack(stack: str) -> stack_context.StackContext:
    """A stack as the program and the pack see it: its connection, options, catalog and accepted debt, read from
    the project folder."""
    return stack_context.for_stack(stack, project_dir())


def add_command(subparsers: Subparsers, name: str, help_text: str, run: Run) -> argparse.ArgumentParser:
    """A command about one stack: its -s/--stack is required."""
    sub = subparsers.add_parser(name, help=help_text, description=help_text)
    sub.add_argument("-s", "--stack", required=True, help="the stack (local, staging, production, ...)")
    sub.set_defaults(run=run)
    return sub


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    for line in (headers, ["-" * w for w in widths], *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def selected(context: stack_context.StackContext, names: list[str], table: str | None = None) -> list[ForeignKey]:
    """The stack's keys `--constraint` names (a label, schema.table.name, or a name with --table), in catalog
    order; a key of the catalog that another stack owns (fkguard:schemas, fkguard:tiers) is refused as such."""
    catalog = context.catalog
    if not names:
        return catalog
    chosen = {_find_own(context, name, table) for name in names}
    return [fk for fk in catalog if fk in chosen]


def _find_own(context: stack_context.StackContext, name: str, table: str | None) -> ForeignKey:
    try:
        return find(context.catalog, name, table=table)
    except CatalogError:
        elsewhere = find(context.whole_catalog, name, table=table)  # refused as before when it is nobody's
        if elsewhere in context.catalog:
            raise
        raise CommandError(f"{elsewhere.label} is not stack {context.stack}'s: its fkguard:schemas / fkguard:tiers "
                           f"({context.options.selection.describe()}) leave it to another stack of the catalog; "
                           f"run this against the stack that owns it") from None


def confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise RemediationError("nothing changed: add --yes to proceed without a prompt")
    return input(f"{question} Type yes to proceed: ").strip().lower() == "yes"
