"""What PostgreSQL said when it refused a statement, as one line for a message."""

from __future__ import annotations

import psycopg


def one_line(exc: psycopg.Error) -> str | None:
    """The server's reason (with its detail, e.g. which key), or None when the error did not come from
    the server (a lost connection): that one is not a refusal, and callers let it propagate."""
    if exc.sqlstate is None:
        return None
    text = exc.diag.message_primary or str(exc)
    if exc.diag.message_detail:
        text += f" ({exc.diag.message_detail})"
    return " ".join(text.split())


def refusal(exc: psycopg.Error) -> str:
    """The server's reason for refusing a statement; an error that is no refusal (a lost connection)
    is raised again, since nothing can go on without the server."""
    reason = one_line(exc)
    if reason is None:
        raise exc
    return reason
