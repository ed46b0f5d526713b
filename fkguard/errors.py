"""The one root of fkguard's own errors.

Every refusal fkguard makes on purpose is an FkguardError whose message names the object and the fix;
the subclasses carry the object as fields too (CatalogError.entry, RolloutError.constraint, ...), for
callers that act on it. Entry points (the command, the provider, the policy pack, the program) catch
EXPECTED once, print one line, and let anything else surface as the bug it is, with its traceback.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

import psycopg


class FkguardError(Exception):
    """A refusal: the message says what is wrong with which object, and what to do instead."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take their fields as keyword arguments, which Exception's own pickling drops.
        return _restore, (type(self), self.args, dict(vars(self)))


def _restore(cls: type[FkguardError], args: tuple[Any, ...], fields: dict[str, Any]) -> FkguardError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, *args)
    vars(exc).update(fields)
    return exc


class SettingsError(FkguardError):
    """Stack config that cannot give a connection; the message names the key and the fix."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key  # the config key at fault (postgresql:port, ...), when there is one


# What an entry point turns into one line; anything else is a bug and keeps its traceback.
EXPECTED: tuple[type[BaseException], ...] = (FkguardError, psycopg.Error)


def describe(exc: BaseException, *, detail: bool = False) -> str:
    """An error as one line for a message: the first line of its text (or its type when it has none).

    With `detail`, a refusal PostgreSQL sent (psycopg's Diagnostic) is told in the server's own words: its
    primary message, then its detail in parentheses (e.g. which key), folded onto one line."""
    if detail and isinstance(exc, psycopg.Error) and exc.sqlstate is not None:
        text = exc.diag.message_primary or str(exc)
        if exc.diag.message_detail:
            text += f" ({exc.diag.message_detail})"
        return " ".join(text.split())
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def refusal(exc: psycopg.Error) -> str:
    """The server's reason for refusing a statement, with its detail; an error that is no refusal (a lost
    connection: no SQLSTATE) is raised again, since nothing can go on without the server."""
    if exc.sqlstate is None:
        raise exc
    return describe(exc, detail=True)


class OneLineTracebacks:
    """Stands in for the `traceback` module where the Pulumi SDK's dynamic provider server formats a failed
    step (`context.abort(..., traceback.format_exc())`): an expected error shows as its type and message,
    anything else keeps its whole traceback. Scoped to that one catch, unlike sys.tracebacklimit."""

    def format_exc(self, limit: int | None = None, chain: bool = True) -> str:
        exc = sys.exc_info()[1]
        if isinstance(exc, EXPECTED):
            return "".join(traceback.format_exception_only(type(exc), exc))
        return traceback.format_exc(limit, chain)

    def __getattr__(self, name: str) -> Any:
        return getattr(traceback, name)
