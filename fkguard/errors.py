"""The one root of fkguard's own errors.

Every refusal fkguard makes on purpose is an FkguardError whose message names the object and the fix.
Entry points (the command, the provider, the policy pack, the program) catch this root and
psycopg.Error once, print one line, and let anything else surface as the bug it is.
"""

from __future__ import annotations

import psycopg


class FkguardError(Exception):
    """A refusal: the message says what is wrong with which object, and what to do instead."""


# What an entry point turns into one line; anything else is a bug and keeps its traceback.
EXPECTED: tuple[type[BaseException], ...] = (FkguardError, psycopg.Error)


def one_line(exc: BaseException) -> str:
    """The first line of an expected error's message (or its type when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
