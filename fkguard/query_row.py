"""The row of a query that always returns exactly one (an aggregate, a SELECT of expressions)."""

from __future__ import annotations

from typing import Any

import psycopg


def one(cursor: psycopg.Cursor[Any]) -> Any:
    """fetchone() of a query that cannot return no row: None there would be a bug, so it is not returned."""
    row = cursor.fetchone()
    if row is None:
        raise AssertionError("a query that always returns a row returned none")
    return row
