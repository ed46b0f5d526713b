"""One foreign key before and beside its rollout: what the database would refuse (preflight), the
constraint as the database has it (read), and the error a step that cannot be done raises. The steps
themselves are fkguard.operations."""

from __future__ import annotations

import psycopg

from fkguard import ddl, live, partitions
from fkguard.catalog import ForeignKey
from fkguard.errors import FkguardError
from fkguard.pgrow import one


class RolloutError(FkguardError):
    """A step that could not be done; the message says what is in the way and what to do."""

    def __init__(self, message: str, *, constraint: str) -> None:
        super().__init__(message)
        self.constraint = constraint  # the foreign key's name


def preflight(conn: psycopg.Connection, fk: ForeignKey) -> list[tuple[str, str]]:
    """What the database would refuse, found before anything runs (the provider's check at preview)."""
    problems: list[tuple[str, str]] = []
    for key, table, cols in (("table", fk.table, fk.columns), ("references", fk.references, fk.referenced_columns)):
        kind = live.relkind(conn, table)
        if kind is None:
            schema_found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (table.schema,)).fetchone()
            where = "" if schema_found else f" (schema {table.schema!r} does not exist either)"
            problems.append((key, f"table {table} does not exist{where}; create it first or fix the name"))
            continue
        if kind not in ("r", "p"):
            problems.append((key, f"{table} is not a table (relkind {kind!r}); foreign keys need tables"))
            continue
        present = {r[0]: r[1] for r in conn.execute(
            "SELECT attname, attnotnull FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped", (ddl.table_ref(table).as_string(conn),))}
        for col in cols:
            if col not in present:
                problems.append((key, f"column {col!r} does not exist in {table}; fix the column name"))
        if key == "table":
            if kind == "p":
                for part in partitions.tree(conn, table):
                    if part.relkind == "f":
                        problems.append((key, f"{part.table}, a partition of {table}, is a foreign table, which "
                                              f"cannot hold a foreign key; detach it first"))
            if fk.on_delete_columns and conn.info.server_version < 150000:
                problems.append(("on_delete_columns", f"ON DELETE {fk.on_delete} (columns) needs PostgreSQL 15; this "
                                                      f"server is {conn.info.server_version // 10000}: remove "
                                                      f"on_delete_columns"))
            # ON DELETE SET NULL (cols) nulls only those; ON UPDATE SET NULL always nulls them all.
            for action, label, nulled in ((fk.on_delete, "ON DELETE", fk.on_delete_columns or cols),
                                          (fk.on_update, "ON UPDATE", cols)):
                if action == "SET NULL":
                    for col in nulled:
                        if present.get(col):
                            problems.append(("on_delete" if label == "ON DELETE" else "on_update",
                                             f"{label} SET NULL on {table}.{col}, which is NOT NULL: every such "
                                             f"delete would fail; make the column nullable or choose another action"))
    if problems:
        return problems
    # ALTER TABLE needs the referencing table's owner; REFERENCES needs that privilege on the other.
    owner, may_reference = one(conn.execute(
        "SELECT pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = %s::regclass), 'USAGE'), "
        "has_table_privilege(%s::regclass, 'REFERENCES')",
        (ddl.table_ref(fk.table).as_string(conn), ddl.table_ref(fk.references).as_string(conn))))
    user = conn.info.user
    if not owner:
        problems.append(("table", f"user {user} does not own {fk.table}, and ALTER TABLE needs its owner; "
                                  f"connect as the owner, or GRANT the owning role TO {user}"))
    if not may_reference:
        problems.append(("references", f"user {user} lacks the REFERENCES privilege on {fk.references}; "
                                       f"GRANT REFERENCES ON {fk.references} TO {user}"))
    if not live.has_unique_key(conn, fk.references, fk.referenced_columns):
        problems.append(("referenced_columns", f"{fk.references} ({', '.join(fk.referenced_columns)}) has no primary "
                                               f"key or unique constraint; PostgreSQL refuses to reference it: add one"))
    return problems


def read(conn: psycopg.Connection, fk: ForeignKey) -> live.LiveConstraint | None:
    """The constraint as PostgreSQL has it; for a partitioned table before 18, as fkguard.partitions maps it."""
    if not live.table_exists(conn, fk.table):
        return None
    if partitions.uses_leaves(conn, fk.table):
        return partitions.read(conn, fk)
    return live.read_constraint(conn, fk.table, fk.name)
