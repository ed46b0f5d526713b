"""What fkguard does to one foreign key: add it NOT VALID, validate it, change when it is checked
(DEFERRABLE), drop it, read it. Each is a short transaction of its own under lock protection (fkguard.locks)."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import errors

from fkguard import ddl, live, orphans
from fkguard.catalog import ForeignKey
from fkguard.locks import LockPolicy, run_locked


class RolloutError(RuntimeError):
    """A step that could not be done; the message says what is in the way and what to do."""


@dataclass
class Outcome:
    """What the database has after a step, and the SQL the step ran."""

    exists: bool
    validated: bool = False
    definition: str = ""
    sql: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        return "validated" if self.validated else ("not valid" if self.exists else "absent")


def _observe(conn: psycopg.Connection, fk: ForeignKey, ran: list[str]) -> Outcome:
    found = live.read_constraint(conn, fk.table, fk.name)
    if found is None:
        return Outcome(exists=False, sql=ran)
    return Outcome(exists=True, validated=found.validated, definition=found.definition, sql=ran)


def preflight(conn: psycopg.Connection, fk: ForeignKey) -> list[tuple[str, str]]:
    """What the database would refuse, found before anything runs (the provider's check at preview)."""
    problems: list[tuple[str, str]] = []
    for key, table, cols in (("table", fk.table, fk.columns), ("references", fk.references, fk.referenced_columns)):
        kind = conn.execute(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s", (table.schema, table.name)).fetchone()
        if kind is None:
            schema_found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (table.schema,)).fetchone()
            where = "" if schema_found else f" (schema {table.schema!r} does not exist either)"
            problems.append((key, f"table {table} does not exist{where}; create it first or fix the name"))
            continue
        if kind[0] not in ("r", "p"):
            problems.append((key, f"{table} is not a table (relkind {kind[0]!r}); foreign keys need tables"))
            continue
        present = {r[0]: r[1] for r in conn.execute(
            "SELECT attname, attnotnull FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped", (ddl.table_ref(table).as_string(conn),))}
        for col in cols:
            if col not in present:
                problems.append((key, f"column {col!r} does not exist in {table}; fix the column name"))
        if key == "table":
            if kind[0] == "p" and conn.info.server_version < 180000:
                problems.append((key, f"{table} is partitioned: PostgreSQL {conn.info.server_version // 10000} "
                                      f"refuses NOT VALID foreign keys on partitioned tables (18 allows them); "
                                      f"add the constraint to each partition instead"))
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
    owner, may_reference = conn.execute(
        "SELECT pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = %s::regclass), 'USAGE'), "
        "has_table_privilege(%s::regclass, 'REFERENCES')",
        (ddl.table_ref(fk.table).as_string(conn), ddl.table_ref(fk.references).as_string(conn))).fetchone()
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


def planned_sql(conn: psycopg.Connection, fk: ForeignKey, validated: bool, *, deferral_only: bool = False) -> list[str]:
    """The statements a create runs (or, deferral_only, an update of the deferral), each with the locks
    it takes, for review at preview."""
    if deferral_only:
        return [f"{ddl.alter_deferrable(fk).as_string(conn)};  -- ACCESS EXCLUSIVE on {fk.table}, held for "
                f"milliseconds: no scan, and the constraint keeps its validation"]
    plan = [f"{ddl.add_not_valid(fk).as_string(conn)};  -- SHARE ROW EXCLUSIVE on {fk.table} and "
            f"{fk.references}, held for milliseconds: no scan"]
    if validated:
        plan.append(f"{ddl.validate(fk).as_string(conn)};  -- in its own transaction: SHARE UPDATE EXCLUSIVE on "
                    f"{fk.table}, ROW SHARE on {fk.references}: reads and writes continue during the scan")
    return plan


def add(conn: psycopg.Connection, fk: ForeignKey, policy: LockPolicy) -> Outcome:
    """Add the constraint NOT VALID, or adopt an identical one that already exists."""
    found = live.read_constraint(conn, fk.table, fk.name)
    if found is not None:
        if not found.same_as(fk):
            raise RolloutError(
                f"{fk.table} already has a constraint named {fk.name} with another definition "
                f"({found.definition}); drop or rename it, or change this constraint's name"
            )
        return _observe(conn, fk, [f"-- adopted the existing constraint {fk.name}, which matches"])
    statement = ddl.add_not_valid(fk)
    run_locked(conn, [statement], [fk.table, fk.references], policy, what=f"adding {fk.name}")
    return _observe(conn, fk, [statement.as_string(conn)])


def validate(conn: psycopg.Connection, fk: ForeignKey, policy: LockPolicy, ran: list[str] | None = None) -> Outcome:
    """VALIDATE in a transaction of its own; on orphans, say how many and show some."""
    statement = ddl.validate(fk)
    try:
        run_locked(conn, [statement], [fk.table, fk.references], policy, what=f"validating {fk.name}")
    except errors.ForeignKeyViolation:
        count = orphans.count_orphans(conn, fk)
        sample = orphans.describe_keys(fk, orphans.sample_orphan_keys(conn, fk, 5))
        raise RolloutError(
            f"VALIDATE CONSTRAINT {fk.name} failed: {count} rows of {fk.table} have no parent in {fk.references} "
            f"(e.g. {sample}). The constraint stays NOT VALID and still checks new writes. Remediate them "
            f"(fkguard audit / remediate), then run pulumi up again"
        ) from None
    except errors.QueryCanceled:
        raise RolloutError(
            f"VALIDATE CONSTRAINT {fk.name} was cancelled by fkguard:statementTimeout; the constraint stays NOT "
            f"VALID. Raise the timeout or validate in a quieter hour"
        ) from None
    return _observe(conn, fk, [*(ran or []), statement.as_string(conn)])


def alter_deferral(conn: psycopg.Connection, fk: ForeignKey, policy: LockPolicy) -> Outcome:
    """Make the existing constraint [NOT] DEFERRABLE [INITIALLY DEFERRED] as the catalog says, in place."""
    statement = ddl.alter_deferrable(fk)
    run_locked(conn, [statement], [fk.table, fk.references], policy, what=f"altering {fk.name}")
    return _observe(conn, fk, [statement.as_string(conn)])


def drop(conn: psycopg.Connection, fk: ForeignKey, policy: LockPolicy) -> Outcome:
    """DROP CONSTRAINT IF EXISTS; a table that is gone has nothing left to drop."""
    if not live.table_exists(conn, fk.table):
        return Outcome(exists=False, sql=[f"-- {fk.table} does not exist: nothing to drop"])
    statement = ddl.drop(fk)
    run_locked(conn, [statement], [fk.table, fk.references], policy, what=f"dropping {fk.name}")
    return Outcome(exists=False, sql=[statement.as_string(conn)])


def read(conn: psycopg.Connection, fk: ForeignKey) -> live.LiveConstraint | None:
    if not live.table_exists(conn, fk.table):
        return None
    return live.read_constraint(conn, fk.table, fk.name)
