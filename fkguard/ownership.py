"""Which stack a foreign key belongs to: the COMMENT fkguard writes on each constraint it adds, naming the stack.

A catalog can be split into several stacks of one database (fkguard.catalog.selection). The provider's create
adopts an identical existing key (what makes a crash converge: the database is the truth), so without a mark a
second stack whose part overlaps another's would silently adopt that stack's key, and its rollback would drop
it. `fkguard fleet` refuses two stacks of a fleet that own one key before anything runs; this mark catches the
rest (a stack run by hand, a stack outside the fleet file) at preview, at create and at delete.

The comment is written in the ADD's own transaction, which already holds SHARE ROW EXCLUSIVE on the table, a
stronger lock than COMMENT's SHARE UPDATE EXCLUSIVE: it waits for nothing more. A key adopted without any comment
is marked by the stack that adopts it; a team's own comment is never overwritten (that key's owner stays unknown,
as for keys added by an fkguard before this mark, or on a partitioned table's leaves before PostgreSQL 18).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from fkguard import ddl
from fkguard.catalog import ForeignKey
from fkguard.errors import FkguardError

MARK = "fkguard: added by stack "


class OwnedElsewhere(FkguardError):
    """The key belongs to another stack of the same database; the message names both and the fix."""

    def __init__(self, message: str, *, constraint: str) -> None:
        super().__init__(message)
        self.constraint = constraint


def mark_statement(fk: ForeignKey, stack: str) -> sql.Composed:
    return sql.SQL("COMMENT ON CONSTRAINT {name} ON {table} IS {text}").format(
        name=sql.Identifier(fk.name), table=ddl.table_ref(fk.table), text=sql.Literal(MARK + stack))


def comment(conn: psycopg.Connection, fk: ForeignKey) -> tuple[bool, str | None]:
    """Whether the table has a constraint of the key's name, and its comment."""
    row = conn.execute(
        "SELECT obj_description(c.oid, 'pg_constraint') FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = %s AND t.relname = %s AND c.conname = %s",
        (fk.table.schema, fk.table.name, fk.name)).fetchone()
    return (row is not None, row[0] if row else None)


def owner(conn: psycopg.Connection, fk: ForeignKey) -> str | None:
    """The stack fkguard's mark names, or None (no such key, no mark, or a comment of the team's own)."""
    _, text = comment(conn, fk)
    return text[len(MARK):] if text and text.startswith(MARK) else None


def refusal(fk: ForeignKey, found: str, stack: str, what: str) -> str:
    return (f"{what}: {fk.table} {fk.name} was added by stack {found!r} (its COMMENT says so), and two stacks must "
            f"not own one key: leave it out of stack {stack!r} (fkguard:schemas, fkguard:tiers), or roll it back "
            f"from stack {found!r} first")


def refuse_foreign(conn: psycopg.Connection, fk: ForeignKey, stack: str | None, what: str) -> None:
    """Raise OwnedElsewhere when the key's mark names a stack other than `stack` (None: nothing to compare)."""
    found = owner(conn, fk) if stack else None
    if found is not None and found != stack:
        raise OwnedElsewhere(refusal(fk, found, str(stack), what), constraint=fk.name)
