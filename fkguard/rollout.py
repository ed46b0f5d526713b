"""One foreign key before and beside its rollout: what the database would refuse (preflight), the
constraint as the database has it (read), and the error a step that cannot be done raises. The steps
themselves are fkguard.operations."""

from __future__ import annotations

import psycopg

from fkguard import ddl, introspect, partitions, problems
from fkguard.catalog import ForeignKey, QualifiedName
from fkguard.errors import FkguardError
from fkguard.problems import Problem
from fkguard.query_row import one


class RolloutError(FkguardError):
    """A step that could not be done; the message says what is in the way and what to do."""

    def __init__(self, message: str, *, constraint: str) -> None:
        super().__init__(message)
        self.constraint = constraint  # the foreign key's name


def preflight(conn: psycopg.Connection, fk: ForeignKey) -> list[Problem]:
    """What the database would refuse, found before anything runs (the provider's check at preview)."""
    found: list[Problem] = []
    for key, table, cols in (("table", fk.table, fk.columns), ("references", fk.references, fk.referenced_columns)):
        found += _table_problems(conn, fk, key, table, cols)
    # Rights and keys can only be asked of tables that are there.
    return found or _rights_problems(conn, fk)


def _table_problems(conn: psycopg.Connection, fk: ForeignKey, key: str, table: QualifiedName,
                    cols: tuple[str, ...]) -> list[Problem]:
    """The preflight of one side: the table, its columns, and (the referencing side) what its actions need."""
    kind = introspect.relkind(conn, table)
    if kind is None:
        schema_found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (table.schema,)).fetchone()
        where = "" if schema_found else f" (schema {table.schema!r} does not exist either)"
        return [Problem(key, problems.TABLE_MISSING,
                        f"table {table} does not exist{where}; create it first or fix the name")]
    if kind not in ("r", "p"):
        return [Problem(key, problems.NOT_A_TABLE, f"{table} is not a table (relkind {kind!r}); foreign keys need tables")]
    present = {r[0]: r[1] for r in conn.execute(
        "SELECT attname, attnotnull FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
        "AND NOT attisdropped", (ddl.table_ref(table).as_string(conn),))}
    found = [Problem(key, problems.COLUMN_MISSING, f"column {col!r} does not exist in {table}; fix the column name")
             for col in cols if col not in present]
    if key != "table":
        return found
    if kind == "p":
        found += [Problem(key, problems.FOREIGN_PARTITION, f"{part.table}, a partition of {table}, is a foreign table, "
                                                           f"which cannot hold a foreign key; detach it first")
                  for part in partitions.tree(conn, table) if part.relkind == "f"]
    if fk.on_delete_columns and conn.info.server_version < 150000:
        found.append(Problem("on_delete_columns", problems.SERVER_TOO_OLD,
                             f"ON DELETE {fk.on_delete} (columns) needs PostgreSQL 15; this server is "
                             f"{conn.info.server_version // 10000}: remove on_delete_columns"))
    # ON DELETE SET NULL (cols) nulls only those; ON UPDATE SET NULL always nulls them all.
    for action, label, nulled in ((fk.on_delete, "ON DELETE", fk.on_delete_columns or cols),
                                  (fk.on_update, "ON UPDATE", cols)):
        if action == "SET NULL":
            found += [Problem("on_delete" if label == "ON DELETE" else "on_update", problems.SET_NULL_ON_NOT_NULL,
                              f"{label} SET NULL on {table}.{col}, which is NOT NULL: every such delete would "
                              f"fail; make the column nullable or choose another action")
                      for col in nulled if present.get(col)]
    return found


def _rights_problems(conn: psycopg.Connection, fk: ForeignKey) -> list[Problem]:
    """The preflight once both tables are there: the user's rights, and a key to reference."""
    found: list[Problem] = []
    # ALTER TABLE needs the referencing table's owner; REFERENCES needs that privilege on the other.
    owner, may_reference = one(conn.execute(
        "SELECT pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = %s::regclass), 'USAGE'), "
        "has_table_privilege(%s::regclass, 'REFERENCES')",
        (ddl.table_ref(fk.table).as_string(conn), ddl.table_ref(fk.references).as_string(conn))))
    user = conn.info.user
    if not owner:
        found.append(Problem("table", problems.NOT_OWNER,
                             f"user {user} does not own {fk.table}, and ALTER TABLE needs its owner; "
                             f"connect as the owner, or GRANT the owning role TO {user}"))
    if not may_reference:
        found.append(Problem("references", problems.NO_REFERENCES_PRIVILEGE,
                             f"user {user} lacks the REFERENCES privilege on {fk.references}; "
                             f"GRANT REFERENCES ON {fk.references} TO {user}"))
    if not introspect.has_unique_key(conn, fk.references, fk.referenced_columns):
        found.append(Problem("referenced_columns", problems.KEY_NOT_UNIQUE,
                             f"{fk.references} ({', '.join(fk.referenced_columns)}) has no primary key or unique "
                             f"constraint; PostgreSQL refuses to reference it: add one"))
    return found


def read(conn: psycopg.Connection, fk: ForeignKey) -> introspect.LiveConstraint | None:
    """The constraint as PostgreSQL has it; for a partitioned table before 18, as fkguard.partitions maps it."""
    if not introspect.table_exists(conn, fk.table):
        return None
    if partitions.uses_leaves(conn, fk.table):
        return partitions.read(conn, fk)
    return introspect.read_constraint(conn, fk.table, fk.name)
