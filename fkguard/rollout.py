"""What fkguard does to one foreign key: add it NOT VALID, validate it, change when it is checked
(DEFERRABLE), drop it, read it. Each is a short transaction of its own under lock protection (fkguard.locks).
A partitioned referencing table before PostgreSQL 18 goes per leaf partition (fkguard.partitions)."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import errors

from fkguard import ddl, introspect, orphans, partitions, problems
from fkguard.catalog import ForeignKey, QualifiedName
from fkguard.desired import state_of
from fkguard.errors import FkguardError
from fkguard.locks import LockPolicy, run_locked
from fkguard.problems import Problem
from fkguard.query_row import one


class RolloutError(FkguardError):
    """A step that could not be done; the message says what is in the way and what to do."""

    def __init__(self, message: str, *, constraint: str) -> None:
        super().__init__(message)
        self.constraint = constraint  # the foreign key's name


@dataclass
class Outcome:
    """What the database has after a step, and the SQL the step ran."""

    exists: bool
    validated: bool = False
    definition: str = ""
    sql: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        return state_of(self.exists, self.validated)


def _observe(conn: psycopg.Connection, fk: ForeignKey, ran: list[str]) -> Outcome:
    found = read(conn, fk)
    if found is None:
        return Outcome(exists=False, sql=ran)
    return Outcome(exists=True, validated=found.validated, definition=found.definition, sql=ran)


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


def planned_sql(conn: psycopg.Connection, fk: ForeignKey, validated: bool, *, deferral_only: bool = False) -> list[str]:
    """The statements a create runs (or, deferral_only, an update of the deferral), each with the locks
    it takes, for review at preview."""
    if deferral_only:
        return [f"{ddl.alter_deferrable(fk).as_string(conn)};  -- ACCESS EXCLUSIVE on {fk.table}, held for "
                f"milliseconds: no scan, and the constraint keeps its validation"]
    if partitions.uses_leaves(conn, fk.table):
        return _planned_per_leaf(conn, fk, validated)
    plan = [f"{ddl.add_not_valid(fk).as_string(conn)};  -- SHARE ROW EXCLUSIVE on {fk.table} and "
            f"{fk.references}, held for milliseconds: no scan"]
    if validated:
        plan.append(f"{ddl.validate(fk).as_string(conn)};  -- in its own transaction: SHARE UPDATE EXCLUSIVE on "
                    f"{fk.table}, ROW SHARE on {fk.references}: reads and writes continue during the scan")
    return plan


def _planned_per_leaf(conn: psycopg.Connection, fk: ForeignKey, validated: bool) -> list[str]:
    leaves = partitions.leaves(conn, fk.table)
    plan = [f"{ddl.add_not_valid(partitions.on(fk, leaf)).as_string(conn)};  -- partition of {fk.table}: SHARE ROW "
            f"EXCLUSIVE on {leaf} and {fk.references}, held for milliseconds: no scan" for leaf in leaves]
    if validated:
        plan += [f"{ddl.validate(partitions.on(fk, leaf)).as_string(conn)};  -- in its own transaction: SHARE UPDATE "
                 f"EXCLUSIVE on {leaf}, ROW SHARE on {fk.references}: reads and writes continue during the scan"
                 for leaf in leaves]
        plan.append(f"{ddl.add_attaching(fk).as_string(conn)};  -- SHARE ROW EXCLUSIVE on {fk.table}, its partitions "
                    f"and {fk.references}, held for milliseconds: attaches the validated partition constraints, no scan "
                    f"(PostgreSQL {conn.info.server_version // 10000} refuses NOT VALID on a partitioned table)")
    return plan


def _adopt_or_refuse(found: introspect.LiveConstraint, fk: ForeignKey) -> str:
    if not found.same_as(fk):
        raise RolloutError(
            f"{fk.table} already has a constraint named {fk.name} with another definition "
            f"({found.definition}); drop or rename it, or change this constraint's name", constraint=fk.name
        )
    return f"-- adopted the existing constraint {fk.name}, which matches"


def add(conn: psycopg.Connection, fk: ForeignKey, policy: LockPolicy) -> Outcome:
    """Add the constraint NOT VALID, or adopt an identical one that already exists."""
    found = introspect.read_constraint(conn, fk.table, fk.name)
    if found is not None:
        return _observe(conn, fk, [_adopt_or_refuse(found, fk)])
    if partitions.uses_leaves(conn, fk.table):
        return _observe(conn, fk, _add_per_leaf(conn, fk, policy))
    statement = ddl.add_not_valid(fk)
    run_locked(conn, [statement], [fk.table, fk.references], policy, what=f"adding {fk.name}")
    return _observe(conn, fk, [statement.as_string(conn)])


def _add_per_leaf(conn: psycopg.Connection, fk: ForeignKey, policy: LockPolicy) -> list[str]:
    """Step 1 of fkguard.partitions: NOT VALID on each leaf still without it, one brief lock each."""
    states = partitions.leaf_states(conn, fk)
    if not states:  # no partition yet: nothing to scan, so the parent's constraint is added at once, validated
        statement = ddl.add_attaching(fk)
        run_locked(conn, [statement], [fk.table, fk.references], policy, what=f"adding {fk.name}")
        return [statement.as_string(conn)]
    ran = []
    for leaf, found in states.items():
        on_leaf = partitions.on(fk, leaf)
        if found is not None:
            ran.append(f"{_adopt_or_refuse(found, on_leaf)} on {leaf}")
            continue
        statement = ddl.add_not_valid(on_leaf)
        run_locked(conn, [statement], [leaf, fk.references], policy, what=f"adding {fk.name} on {leaf}")
        ran.append(statement.as_string(conn))
    return ran


def _validate_one(conn: psycopg.Connection, fk: ForeignKey, policy: LockPolicy) -> str:
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
            f"(fkguard audit / remediate), then run pulumi up again", constraint=fk.name
        ) from None
    except errors.QueryCanceled:
        raise RolloutError(
            f"VALIDATE CONSTRAINT {fk.name} was cancelled by fkguard:statementTimeout; the constraint stays NOT "
            f"VALID. Raise the timeout or validate in a quieter hour", constraint=fk.name
        ) from None
    return statement.as_string(conn)


def validate(conn: psycopg.Connection, fk: ForeignKey, policy: LockPolicy, ran: list[str] | None = None) -> Outcome:
    """VALIDATE in a transaction of its own (per leaf, then the attaching ADD on the parent, for a
    partitioned table before PostgreSQL 18)."""
    done = list(ran or [])
    if partitions.uses_leaves(conn, fk.table) and introspect.read_constraint(conn, fk.table, fk.name) is None:
        done += _validate_per_leaf(conn, fk, policy)
    else:
        done.append(_validate_one(conn, fk, policy))
    return _observe(conn, fk, done)


def _validate_per_leaf(conn: psycopg.Connection, fk: ForeignKey, policy: LockPolicy) -> list[str]:
    """Steps 2 and 3 of fkguard.partitions: VALIDATE each leaf not yet validated, then ADD on the parent,
    which attaches them without a scan."""
    ran = []
    for leaf, found in partitions.leaf_states(conn, fk).items():
        if found is None:
            raise RolloutError(f"{fk.name} is missing from {leaf}, a partition of {fk.table} (added after the "
                               f"rollout, or dropped by hand): run pulumi refresh, then pulumi up to add it there too",
                               constraint=fk.name)
        if not found.validated:
            ran.append(_validate_one(conn, partitions.on(fk, leaf), policy))
    statement = ddl.add_attaching(fk)
    run_locked(conn, [statement], [fk.table, *partitions.leaves(conn, fk.table), fk.references], policy,
               what=f"attaching {fk.name} on {fk.table}")
    ran.append(statement.as_string(conn))
    return ran


def alter_deferral(conn: psycopg.Connection, fk: ForeignKey, policy: LockPolicy) -> Outcome:
    """Make the existing constraint [NOT] DEFERRABLE [INITIALLY DEFERRED] as the catalog says, in place."""
    # The parent's ALTER CONSTRAINT reaches its partitions' attached ones; without it, each leaf's own.
    on_tables = [fk.table]
    if partitions.uses_leaves(conn, fk.table) and introspect.read_constraint(conn, fk.table, fk.name) is None:
        on_tables = partitions.leaves(conn, fk.table)
    ran = []
    for table in on_tables:
        statement = ddl.alter_deferrable(partitions.on(fk, table))
        run_locked(conn, [statement], [table, fk.references], policy, what=f"altering {fk.name} on {table}")
        ran.append(statement.as_string(conn))
    return _observe(conn, fk, ran)


def drop(conn: psycopg.Connection, fk: ForeignKey, policy: LockPolicy) -> Outcome:
    """DROP CONSTRAINT IF EXISTS; a table that is gone has nothing left to drop."""
    if not introspect.table_exists(conn, fk.table):
        return Outcome(exists=False, sql=[f"-- {fk.table} does not exist: nothing to drop"])
    statement = ddl.drop(fk)
    run_locked(conn, [statement], [fk.table, fk.references], policy, what=f"dropping {fk.name}")
    ran = [statement.as_string(conn)]
    if partitions.uses_leaves(conn, fk.table):
        # The parent's drop took the attached ones; what is left are leaves still NOT VALID (or never attached).
        for leaf, found in partitions.leaf_states(conn, fk).items():
            if found is not None:
                statement = ddl.drop(partitions.on(fk, leaf))
                run_locked(conn, [statement], [leaf, fk.references], policy, what=f"dropping {fk.name} on {leaf}")
                ran.append(statement.as_string(conn))
    return Outcome(exists=False, sql=ran)


def read(conn: psycopg.Connection, fk: ForeignKey) -> introspect.LiveConstraint | None:
    """The constraint as PostgreSQL has it; for a partitioned table before 18, as fkguard.partitions maps it."""
    if not introspect.table_exists(conn, fk.table):
        return None
    if partitions.uses_leaves(conn, fk.table):
        return partitions.read(conn, fk)
    return introspect.read_constraint(conn, fk.table, fk.name)
