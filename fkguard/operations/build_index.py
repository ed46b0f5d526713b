"""CREATE INDEX CONCURRENTLY of a foreign key's supporting index, or the adoption of a valid one that
already leads with its columns (fkguard.indexes says what an index is and which serves).

The build runs outside any transaction block (fkguard.locks.run_outside_transaction): writes go on during
it. A failed build leaves an INVALID index behind (PostgreSQL commits the catalog entry first), which is
dropped concurrently before the next attempt. A partitioned table refuses CONCURRENTLY: each leaf's index
is built concurrently, then each partitioned level gets its index ON ONLY (no build) with its children's
ATTACHed, in one short locked transaction per level (ddl.index_steps)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import errors, sql

from fkguard import ddl, introspect
from fkguard.catalog import QualifiedName
from fkguard.errors import describe
from fkguard.indexes import IndexBuildError, Wanted, adoptable, mark, mark_statement, read, tree
from fkguard.introspect import LiveIndex
from fkguard.locks import LockPolicy, run_locked, run_outside_transaction
from fkguard.operations.drop_index import budget_spent, drop_if_invalid
from fkguard.operations.outcomes import IndexOutcome


def _steps(conn: psycopg.Connection, wanted: Wanted) -> list[sql.Composed]:
    if introspect.relkind(conn, wanted.table) == "p":
        levels = tree(conn, wanted.table)
        if not levels:  # nothing to build: the index is a catalog entry, valid at once
            return [ddl.index_on_only(wanted.table, wanted.columns)]
        return ddl.index_steps(wanted.table, wanted.columns, levels)
    return [ddl.build_index(ddl.building_name(wanted.table, wanted.columns), wanted.table, wanted.columns)]


def _finish(conn: psycopg.Connection, wanted: Wanted, built_as: str, policy: LockPolicy) -> list[str]:
    """Mark the built index as fkguard's and give it its name, in one transaction: from then on its comment says
    whose it is, and until then its name does."""
    schema = wanted.table.schema
    steps = [mark_statement(schema, built_as), ddl.rename_index(schema, built_as, wanted.name)]
    run_locked(conn, steps, [wanted.table], policy, what=f"naming {schema}.{wanted.name} as fkguard's")
    return [step.as_string(conn) for step in steps]


def _build(conn: psycopg.Connection, statement: sql.Composed, schema: str, name: str, table: QualifiedName,
           policy: LockPolicy, sleep: Callable[[float], None]) -> list[str]:
    """One CREATE INDEX CONCURRENTLY, sent on its own: an INVALID leftover of this name is dropped before
    it and after each failed attempt; lock timeouts and deadlocks are retried, anything else reported."""
    ran = drop_if_invalid(conn, schema, name, table, policy, sleep)
    what = f"building {schema}.{name}"
    try:
        run_outside_transaction(
            conn, statement, [table], policy, what=what, statement_timeout_ms=policy.statement_timeout_ms,
            give_up=budget_spent(table, policy, what), sleep=sleep,
            after_lock_failure=lambda: ran.extend(drop_if_invalid(conn, schema, name, table, policy, sleep)))
    except psycopg.Error as exc:
        reason = describe(exc)
        if isinstance(exc, errors.QueryCanceled):
            reason += " (fkguard:statementTimeout: raise it, or build in a quieter hour)"
        left = drop_if_invalid(conn, schema, name, table, policy, sleep)
        after = (f"the INVALID index it left was dropped ({left[0].split(';')[0]})" if left
                 else "it left no index behind")
        raise IndexBuildError(f"CREATE INDEX CONCURRENTLY {schema}.{name} on {table} failed: {reason}; {after}. "
                          f"The foreign key waits for it: fix the cause, then run pulumi up again") from None
    ran.append(statement.as_string(conn))
    return ran


@dataclass(frozen=True)
class BuildIndex:
    """Adopt a valid index that leads with the columns, or build fkguard's own, marked as fkguard's so that
    a later run, or another checkout's state, still knows it for fkguard's."""

    wanted: Wanted
    policy: LockPolicy
    sleep: Callable[[float], None] = time.sleep

    def plan_sql(self, conn: psycopg.Connection) -> list[str]:
        wanted = self.wanted
        if introspect.relkind(conn, wanted.table) not in ("r", "p"):
            return [f"-- {wanted.table} does not exist: its foreign key's check says so"]
        found = adoptable(conn, wanted)
        if found is not None and found.fkguards:
            return [f"-- {found.schema}.{found.name} is fkguard's own, built by an earlier run: nothing is built"]
        if found is not None:
            return [f"-- adopts {found.schema}.{found.name}, a valid index that leads with "
                    f"({', '.join(wanted.columns)}): nothing is built, and fkguard will never drop it "
                    f"({found.definition})"]
        plan = []
        for step in _steps(conn, wanted):
            text = step.as_string(conn)
            if "CONCURRENTLY" in text:
                plan.append(f"{text};  -- on its own, outside any transaction block: SHARE UPDATE EXCLUSIVE on the "
                            f"table, reads and writes continue during the build; a failed build's INVALID index is "
                            f"dropped (DROP INDEX CONCURRENTLY)")
            else:
                plan.append(f"{text};  -- in one short transaction per level: a catalog entry, no build")
        if introspect.relkind(conn, wanted.table) == "p":
            plan.append(f"{mark_statement(wanted.table.schema, wanted.name).as_string(conn)};  -- SHARE UPDATE "
                        f"EXCLUSIVE on the new index alone: marks it as fkguard's, to be dropped with the last key "
                        f"that needs it")
            return plan
        building = ddl.building_name(wanted.table, wanted.columns)
        return [*plan, f"{mark_statement(wanted.table.schema, building).as_string(conn)};  -- SHARE UPDATE EXCLUSIVE on "
                       f"the new index alone: marks it as fkguard's, to be dropped with the last key that needs it",
                f"{ddl.rename_index(wanted.table.schema, building, wanted.name).as_string(conn)};  -- in the same "
                f"transaction, the same lock: its name (until then the name says whose it is, should the run die during "
                f"the build)"]

    def run(self, conn: psycopg.Connection) -> IndexOutcome:
        wanted = self.wanted
        found = adoptable(conn, wanted)
        if found is not None and found.name == ddl.building_name(wanted.table, wanted.columns):
            found = None  # a dead run's build that PostgreSQL finished: named and marked below, not rebuilt
        if found is not None and found.fkguards:
            return IndexOutcome(found.name, ours=True, valid=True, definition=found.definition,
                                sql=[f"-- {found.schema}.{found.name} is fkguard's own, built by an earlier run"])
        if found is not None:
            return IndexOutcome(found.name, ours=False, valid=True, definition=found.definition,
                                sql=[f"-- adopted {found.schema}.{found.name}, a valid index that leads with "
                                     f"({', '.join(wanted.columns)}); fkguard will never drop it"])
        schema = wanted.table.schema
        if introspect.relkind(conn, wanted.table) == "p":
            ran = self._build_partitioned(conn)
            built = self._built(conn, wanted.name)
            ran.append(mark(conn, schema, wanted.name, wanted.table, self.policy))
        else:
            building = ddl.building_name(wanted.table, wanted.columns)
            ran = drop_if_invalid(conn, schema, wanted.name, wanted.table, self.policy, self.sleep)  # an older build's
            interrupted = read(conn, schema, building)
            if interrupted is not None and interrupted.valid:
                ran.append(f"-- {schema}.{building}: the build of a run that died, which PostgreSQL finished")
            else:
                ran += _build(conn, _steps(conn, wanted)[0], schema, building, wanted.table, self.policy, self.sleep)
            self._built(conn, building)
            ran += _finish(conn, wanted, building, self.policy)
            built = self._built(conn, wanted.name)
        return IndexOutcome(wanted.name, ours=True, valid=True, definition=built.definition, sql=ran)

    def _built(self, conn: psycopg.Connection, name: str) -> LiveIndex:
        schema, table = self.wanted.table.schema, self.wanted.table
        built = read(conn, schema, name)
        if built is None or not built.valid:
            raise IndexBuildError(f"{schema}.{name} on {table} is {'missing' if built is None else 'INVALID'} after "
                                  f"its build; run pulumi up again (an INVALID one is dropped and rebuilt)")
        return built

    def _build_partitioned(self, conn: psycopg.Connection) -> list[str]:
        """Each leaf's index concurrently, then ON ONLY and ATTACH per partitioned level, deepest first."""
        wanted, policy = self.wanted, self.policy
        ran: list[str] = []
        levels = tree(conn, wanted.table)
        for leaf, _, is_leaf in levels:
            leaf_name = ddl.index_name(leaf, wanted.columns)
            existing = read(conn, leaf.schema, leaf_name)
            if is_leaf and not (existing and existing.valid):  # a valid one is a build an interrupted run finished
                statement = ddl.index_steps(leaf, wanted.columns)[0]
                ran += _build(conn, statement, leaf.schema, leaf_name, leaf, policy, self.sleep)
        parents = [node for node, _, is_leaf in levels if not is_leaf]
        for node in [*reversed(parents), wanted.table]:  # deepest first, as ddl.index_steps orders them
            node_steps = [ddl.index_on_only(node, wanted.columns, if_not_exists=True)]
            node_steps += [ddl.attach_index(node, child, wanted.columns) for child, parent, _ in levels
                           if parent == node]
            run_locked(conn, node_steps, [node, *(c for c, p, _ in levels if p == node)], policy,
                       what=f"indexing {node} ON ONLY")
            ran += [s.as_string(conn) for s in node_steps]
        return ran
