"""The supporting index of a foreign key: an index that leads with its referencing columns, so that a
delete or key update of a parent finds the children without scanning the child table (once per parent
row, inside the application's transaction; see issue 12's measure).

What fkguard does (catalog field `index`, fkguard.catalog.INDEX_CHOICES):
  - a valid index whose leading columns are the referencing columns already exists: adopt it, recorded
    as not fkguard's, so it is never dropped by fkguard;
  - otherwise build `<table>_<columns>_idx` (ddl.index_name, at most 63 bytes) with CREATE INDEX
    CONCURRENTLY: writes go on during the build. It cannot run in a transaction block, so lock_timeout
    and statement_timeout are set for the session around it (SET LOCAL has no transaction to live in);
  - a build that fails leaves an INVALID index behind (PostgreSQL commits the catalog entry first). It is
    found by pg_index.indisvalid and dropped with DROP INDEX CONCURRENTLY; a lock timeout or deadlock is
    then retried with backoff within fkguard:lockRetryBudget, any other failure is reported, saying so;
  - a partitioned table refuses CONCURRENTLY: each leaf's index is built concurrently, then each
    partitioned level gets its index ON ONLY (no build) with its children's ATTACHed, in one short
    locked transaction per level (ddl.index_steps);
  - delete drops only an index fkguard built: concurrently, or for a partitioned one (which refuses
    CONCURRENTLY) by a plain DROP of the parent's, which takes the attached ones and scans nothing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import errors, sql

from fkguard import ddl, introspect, partitions, resource_properties
from fkguard.catalog import QualifiedName
from fkguard.errors import FkguardError, describe
from fkguard.locks import LockPolicy, lock_holders, run_locked
from fkguard.stack import state as stackstate

# The SupportingIndex resource's name and type in a stack's state (resources/supporting_index.py declares it).
TYPE_NAME = "SupportingIndex"
RESOURCE_TYPE = resource_properties.type_token(TYPE_NAME)


def serving_only(resources: list[stackstate.Recorded], urns: set[str]) -> list[stackstate.Recorded]:
    """The supporting indexes recorded in a stack that only these resources depend on: what a rollback of
    them takes too (an adopted one leaves the state only; its delete drops nothing)."""
    found = []
    for index in (r for r in resources if r.type == RESOURCE_TYPE):
        users = {r.urn for r in resources if index.urn in r.dependencies}
        if users and users <= urns:
            found.append(index)
    return found


class IndexBuildError(FkguardError):
    """A supporting index that could not be built or dropped; the message says what is left and what to do."""


@dataclass(frozen=True)
class Wanted:
    """The index one or more catalog keys need: these columns of this table, leading."""

    table: QualifiedName
    columns: tuple[str, ...]

    @property
    def name(self) -> str:
        return ddl.index_name(self.table, self.columns)


@dataclass
class Outcome:
    """The index that serves after a step (fkguard's or adopted), and the SQL the step ran."""

    name: str
    ours: bool
    valid: bool
    definition: str = ""
    sql: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        return "valid" if self.valid else "invalid"


def read(conn: psycopg.Connection, schema: str, name: str) -> introspect.LiveIndex | None:
    """The index of this name as PostgreSQL has it (valid or not), or None."""
    row = conn.execute(
        "SELECT n.nspname, c.relname, i.indisvalid AND i.indisready, pg_get_indexdef(i.indexrelid), "
        "coalesce(starts_with(obj_description(i.indexrelid, 'pg_class'), %s), false) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s", (introspect.BUILT_BY_FKGUARD, schema, name)).fetchone()
    return introspect.LiveIndex(*row) if row else None


def adoptable(conn: psycopg.Connection, wanted: Wanted) -> introspect.LiveIndex | None:
    """A valid index that already leads with the columns: it serves, so nothing is built."""
    return next((i for i in introspect.leading_indexes(conn, wanted.table, wanted.columns) if i.valid), None)


def _tree(conn: psycopg.Connection, table: QualifiedName) -> list[tuple[QualifiedName, QualifiedName, bool]]:
    return [(p.table, p.parent, p.leaf) for p in partitions.tree(conn, table)]


def row_estimate(conn: psycopg.Connection, table: QualifiedName) -> int:
    """Rows in the table and its partitions, as the planner's statistics have them (no scan); a table
    never analyzed (reltuples -1) is counted."""
    regclass = ddl.table_ref(table).as_string(conn)
    rows = conn.execute(
        "SELECT n.nspname, c.relname, c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'r' AND c.oid IN "
        "(SELECT to_regclass(%s) UNION SELECT relid FROM pg_partition_tree(to_regclass(%s)))",
        (regclass, regclass)).fetchall()
    total = 0
    for schema, name, tuples in rows:
        if tuples >= 0:
            total += int(tuples)
        else:
            counted = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))).fetchone()
            total += int(counted[0]) if counted else 0
    return total


def planned_sql(conn: psycopg.Connection, wanted: Wanted) -> list[str]:
    """What create would run, each statement with the locks it takes, for review at preview."""
    if introspect.relkind(conn, wanted.table) not in ("r", "p"):
        return [f"-- {wanted.table} does not exist: its foreign key's check says so"]
    found = adoptable(conn, wanted)
    if found is not None and found.fkguards:
        return [f"-- {found.schema}.{found.name} is fkguard's own, built by an earlier run: nothing is built"]
    if found is not None:
        return [f"-- adopts {found.schema}.{found.name}, a valid index that leads with ({', '.join(wanted.columns)}): "
                f"nothing is built, and fkguard will never drop it ({found.definition})"]
    plan = []
    for step in _steps(conn, wanted):
        text = step.as_string(conn)
        if "CONCURRENTLY" in text:
            plan.append(f"{text};  -- on its own, outside any transaction block: SHARE UPDATE EXCLUSIVE on the table, "
                        f"reads and writes continue during the build; a failed build's INVALID index is dropped "
                        f"(DROP INDEX CONCURRENTLY)")
        else:
            plan.append(f"{text};  -- in one short transaction per level: a catalog entry, no build")
    plan.append(f"{_mark_statement(wanted.table.schema, wanted.name).as_string(conn)};  -- SHARE UPDATE EXCLUSIVE on "
                f"the new index alone: marks it as fkguard's, to be dropped with the last key that needs it")
    return plan


def _steps(conn: psycopg.Connection, wanted: Wanted) -> list[sql.Composed]:
    if introspect.relkind(conn, wanted.table) == "p":
        tree = _tree(conn, wanted.table)
        if not tree:  # nothing to build: the index is a catalog entry, valid at once
            return [ddl.index_on_only(wanted.table, wanted.columns)]
        return ddl.index_steps(wanted.table, wanted.columns, tree)
    return ddl.index_steps(wanted.table, wanted.columns)


@contextmanager
def _session_timeouts(conn: psycopg.Connection, lock_timeout_ms: int, statement_timeout_ms: int) -> Iterator[None]:
    """lock_timeout and statement_timeout for this session, around one statement that refuses a
    transaction block, then back to the server's defaults (the connection is kept for later steps)."""
    conn.execute(sql.SQL("SELECT set_config('lock_timeout', {}, false), set_config('statement_timeout', {}, false)")
                 .format(sql.Literal(f"{lock_timeout_ms}ms"), sql.Literal(f"{statement_timeout_ms}ms")))
    try:
        yield
    finally:
        if not (conn.closed or conn.broken):
            conn.execute("RESET lock_timeout; RESET statement_timeout")


def _retrying(conn: psycopg.Connection, attempt_once: Callable[[], None], table: QualifiedName, policy: LockPolicy,
              what: str, sleep: Callable[[float], None]) -> int:
    """Call attempt_once until it runs without a lock timeout or deadlock, within the lock budget, with
    backoff and full jitter as fkguard.locks.run_locked does. Returns the number of attempts."""
    deadline = time.monotonic() + policy.budget_ms / 1000
    backoff = policy.first_backoff_ms / 1000
    attempt = 0
    while True:
        attempt += 1
        try:
            attempt_once()
            return attempt
        except (errors.LockNotAvailable, errors.DeadlockDetected):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                who = "; ".join(h.describe() for h in lock_holders(conn, [table])) or "no session holds a lock on it now"
                raise IndexBuildError(
                    f"{what}: gave up after {attempt} attempts in {policy.budget_ms / 1000:g}s, each waiting at most "
                    f"{policy.lock_timeout_ms}ms for {table} and the transactions using it. Blocking: {who}. End that "
                    f"transaction (or raise fkguard:lockRetryBudget) and run pulumi up again") from None
            sleep(min(remaining, random.uniform(0, backoff)))
            backoff = min(backoff * 2, policy.max_backoff_ms / 1000)


def _drop_concurrently(conn: psycopg.Connection, schema: str, name: str, table: QualifiedName, policy: LockPolicy,
                       sleep: Callable[[float], None]) -> str:
    statement = ddl.drop_index(schema, name)

    def once() -> None:
        # No statement_timeout: the drop's waits are lock waits, which lock_timeout bounds.
        with _session_timeouts(conn, policy.lock_timeout_ms, 0):
            conn.execute(statement)

    _retrying(conn, once, table, policy, f"dropping {schema}.{name}", sleep)
    return statement.as_string(conn)


def _drop_if_invalid(conn: psycopg.Connection, schema: str, name: str, table: QualifiedName, policy: LockPolicy,
                     sleep: Callable[[float], None]) -> list[str]:
    """Drop the INVALID index a failed CONCURRENTLY build left under this name (an index nobody can use,
    which every write still maintains); a valid one, or none, is left alone."""
    found = read(conn, schema, name)
    if found is None or found.valid:
        return []
    try:
        statement = _drop_concurrently(conn, schema, name, table, policy, sleep)
    except (IndexBuildError, psycopg.Error) as exc:
        raise IndexBuildError(f"the INVALID index {schema}.{name} left by a failed build could not be dropped "
                          f"({str(exc).splitlines()[0]}); drop it with DROP INDEX CONCURRENTLY {schema}.{name}, "
                          f"then run pulumi up again") from None
    return [f"{statement};  -- the INVALID index a failed build left"]


def _build(conn: psycopg.Connection, statement: sql.Composed, schema: str, name: str, table: QualifiedName,
           policy: LockPolicy, sleep: Callable[[float], None]) -> list[str]:
    """One CREATE INDEX CONCURRENTLY, sent on its own: an INVALID leftover of this name is dropped before
    it and after each failed attempt; lock timeouts and deadlocks are retried, anything else reported."""
    ran = _drop_if_invalid(conn, schema, name, table, policy, sleep)

    def once() -> None:
        try:
            with _session_timeouts(conn, policy.lock_timeout_ms, policy.statement_timeout_ms):
                conn.execute(statement)
        except (errors.LockNotAvailable, errors.DeadlockDetected):
            ran.extend(_drop_if_invalid(conn, schema, name, table, policy, sleep))
            raise

    try:
        _retrying(conn, once, table, policy, f"building {schema}.{name}", sleep)
    except psycopg.Error as exc:
        reason = describe(exc)
        if isinstance(exc, errors.QueryCanceled):
            reason += " (fkguard:statementTimeout: raise it, or build in a quieter hour)"
        left = _drop_if_invalid(conn, schema, name, table, policy, sleep)
        after = (f"the INVALID index it left was dropped ({left[0].split(';')[0]})" if left
                 else "it left no index behind")
        raise IndexBuildError(f"CREATE INDEX CONCURRENTLY {schema}.{name} on {table} failed: {reason}; {after}. "
                          f"The foreign key waits for it: fix the cause, then run pulumi up again") from None
    ran.append(statement.as_string(conn))
    return ran


def unmanaged(conn: psycopg.Connection, wanted: Sequence[Wanted]) -> set[Wanted]:
    """The wanted indexes that need no SupportingIndex resource: a valid index not fkguard's already serves,
    and none of fkguard's leads with the columns. One query for the whole catalog (the program asks it once
    per run): a resource per adopted index was half of a big catalog's resources, and Pulumi's engine pays
    for each resource in every step's snapshot (issue 12's profile)."""
    found = introspect.leading_indexes_of(conn, [(w.table, w.columns) for w in wanted])
    return {w for w, indexes in zip(wanted, found, strict=True)
            if any(i.valid and not i.fkguards for i in indexes) and not any(i.fkguards for i in indexes)}


def _mark_statement(schema: str, name: str) -> sql.Composed:
    return ddl.mark_index(schema, name, f"{introspect.BUILT_BY_FKGUARD}; fkguard drops it with the last key that needs it")


def _mark(conn: psycopg.Connection, schema: str, name: str, table: QualifiedName, policy: LockPolicy) -> str:
    statement = _mark_statement(schema, name)
    run_locked(conn, [statement], [table], policy, what=f"marking {schema}.{name} as fkguard's")
    return statement.as_string(conn)


def create(conn: psycopg.Connection, wanted: Wanted, policy: LockPolicy,
           sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """Adopt a valid index that leads with the columns, or build fkguard's own (marked as fkguard's, so that a
    later run, or another checkout's state, still knows it for fkguard's)."""
    found = adoptable(conn, wanted)
    if found is not None and found.fkguards:
        return Outcome(found.name, ours=True, valid=True, definition=found.definition,
                       sql=[f"-- {found.schema}.{found.name} is fkguard's own, built by an earlier run"])
    if found is not None:
        return Outcome(found.name, ours=False, valid=True, definition=found.definition,
                       sql=[f"-- adopted {found.schema}.{found.name}, a valid index that leads with "
                            f"({', '.join(wanted.columns)}); fkguard will never drop it"])
    schema = wanted.table.schema
    ran: list[str] = []
    if introspect.relkind(conn, wanted.table) == "p":
        tree = _tree(conn, wanted.table)
        for leaf, _, is_leaf in tree:
            leaf_name = ddl.index_name(leaf, wanted.columns)
            existing = read(conn, leaf.schema, leaf_name)
            if is_leaf and not (existing and existing.valid):  # a valid one is a build an interrupted run finished
                statement = ddl.index_steps(leaf, wanted.columns)[0]
                ran += _build(conn, statement, leaf.schema, leaf_name, leaf, policy, sleep)
        levels = [node for node, _, is_leaf in tree if not is_leaf]
        for node in [*reversed(levels), wanted.table]:  # deepest first, as ddl.index_steps orders them
            node_steps = [ddl.index_on_only(node, wanted.columns, if_not_exists=True)]
            node_steps += [ddl.attach_index(node, child, wanted.columns) for child, parent, _ in tree if parent == node]
            run_locked(conn, node_steps, [node, *(c for c, p, _ in tree if p == node)], policy,
                       what=f"indexing {node} ON ONLY")
            ran += [s.as_string(conn) for s in node_steps]
    else:
        ran += _build(conn, ddl.index_steps(wanted.table, wanted.columns)[0], schema, wanted.name, wanted.table,
                      policy, sleep)
    built = read(conn, schema, wanted.name)
    if built is None or not built.valid:
        raise IndexBuildError(f"{schema}.{wanted.name} on {wanted.table} is {'missing' if built is None else 'INVALID'} "
                          f"after its build; run pulumi up again (an INVALID one is dropped and rebuilt)")
    ran.append(_mark(conn, schema, wanted.name, wanted.table, policy))
    return Outcome(wanted.name, ours=True, valid=True, definition=built.definition, sql=ran)


def drop(conn: psycopg.Connection, schema: str, name: str, wanted: Wanted, ours: bool, policy: LockPolicy,
         sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Drop the index if fkguard built it and no foreign key on its columns is left; an adopted one stays
    (someone else made it, for their reasons), and so does one a key still needs: the resource can leave the
    state while its key stays (index: none, or a stack whose program no longer registers it), and dropping
    it then would make every parent delete scan the child table. It stays marked as fkguard's, so a later
    run that needs it again takes it back as fkguard's."""
    table = wanted.table
    if not ours:
        return [f"-- left {schema}.{name}: fkguard adopted it and did not build it"]
    found = read(conn, schema, name)
    if found is None:
        return [f"-- {schema}.{name} is already gone"]
    needing = introspect.foreign_keys_on(conn, table, wanted.columns)
    if needing:
        marked = [] if found.fkguards else [_mark(conn, schema, name, table, policy)]
        return [*marked, f"-- kept {schema}.{name}: the foreign key {', '.join(needing)} on {table} "
                         f"({', '.join(wanted.columns)}) still needs it; fkguard drops it with the last such key"]
    if introspect.relkind(conn, table) == "p":
        statement = ddl.drop_index(schema, name, concurrently=False)
        run_locked(conn, [statement], [table, *(t for t, _, _ in _tree(conn, table))], policy,
                   what=f"dropping {schema}.{name}")
        return [statement.as_string(conn)]
    return [_drop_concurrently(conn, schema, name, table, policy, sleep)]
