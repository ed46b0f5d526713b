"""DROP INDEX of a supporting index fkguard built: CONCURRENTLY (writes go on), or for a partitioned table,
which refuses CONCURRENTLY, a plain DROP of the parent's index, which takes the attached ones and scans
nothing. An adopted index stays, and so does one a foreign key still needs. The concurrent drop here is
also how build_index clears the INVALID index a failed build leaves."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from fkguard import ddl, indexes, introspect
from fkguard.catalog import QualifiedName
from fkguard.indexes import IndexBuildError, Wanted
from fkguard.locks import GiveUp, Holder, LockPolicy, run_locked, run_outside_transaction
from fkguard.operations.outcomes import IndexDropOutcome


def budget_spent(table: QualifiedName, policy: LockPolicy, what: str) -> GiveUp:
    """The refusal of a concurrent index step that never got past the table's lock and its transactions."""

    def give_up(attempt: int, holders: list[Holder]) -> Exception:
        who = "; ".join(h.describe() for h in holders) or "no session holds a lock on it now"
        return IndexBuildError(
            f"{what}: gave up after {attempt} attempts in {policy.budget_ms / 1000:g}s, each waiting at most "
            f"{policy.lock_timeout_ms}ms for {table} and the transactions using it. Blocking: {who}. End that "
            f"transaction (or raise fkguard:lockRetryBudget) and run pulumi up again")

    return give_up


def drop_concurrently(conn: psycopg.Connection, schema: str, name: str, table: QualifiedName, policy: LockPolicy,
                      sleep: Callable[[float], None]) -> str:
    statement = ddl.drop_index(schema, name)
    what = f"dropping {schema}.{name}"
    # No statement_timeout: the drop's waits are lock waits, which lock_timeout bounds.
    run_outside_transaction(conn, statement, [table], policy, what=what, statement_timeout_ms=0,
                            give_up=budget_spent(table, policy, what), sleep=sleep)
    return statement.as_string(conn)


def drop_if_invalid(conn: psycopg.Connection, schema: str, name: str, table: QualifiedName, policy: LockPolicy,
                    sleep: Callable[[float], None]) -> list[str]:
    """Drop the INVALID index a failed CONCURRENTLY build left under this name (an index nobody can use,
    which every write still maintains); a valid one, or none, is left alone."""
    found = indexes.read(conn, schema, name)
    if found is None or found.valid:
        return []
    try:
        statement = drop_concurrently(conn, schema, name, table, policy, sleep)
    except (IndexBuildError, psycopg.Error) as exc:
        raise IndexBuildError(f"the INVALID index {schema}.{name} left by a failed build could not be dropped "
                          f"({str(exc).splitlines()[0]}); drop it with DROP INDEX CONCURRENTLY {schema}.{name}, "
                          f"then run pulumi up again") from None
    return [f"{statement};  -- the INVALID index a failed build left"]


@dataclass(frozen=True)
class DropIndex:
    """Drop the index if fkguard built it and no foreign key on its columns is left. The resource can leave
    the state while its key stays (index: none, or a stack whose program no longer registers it), and
    dropping the index then would make every parent delete scan the child table; a kept one stays marked
    as fkguard's, so a later run that needs it again takes it back as fkguard's."""

    schema: str
    name: str
    wanted: Wanted
    ours: bool
    policy: LockPolicy
    sleep: Callable[[float], None] = time.sleep

    def plan_sql(self, conn: psycopg.Connection) -> list[str]:
        schema, name, table = self.schema, self.name, self.wanted.table
        if not self.ours:
            return [f"-- leaves {schema}.{name}: fkguard adopted it and did not build it"]
        if indexes.read(conn, schema, name) is None:
            return [f"-- {schema}.{name} is already gone"]
        needing = introspect.foreign_keys_on(conn, table, self.wanted.columns)
        if needing:
            return [f"-- keeps {schema}.{name}: the foreign key {', '.join(needing)} on {table} still needs it"]
        if introspect.relkind(conn, table) == "p":
            return [f"{ddl.drop_index(schema, name, concurrently=False).as_string(conn)};  -- ACCESS EXCLUSIVE on "
                    f"{table} and its partitions, held for milliseconds: the attached indexes go with it, no scan"]
        return [f"{ddl.drop_index(schema, name).as_string(conn)};  -- on its own, outside any transaction block: "
                f"reads and writes continue"]

    def run(self, conn: psycopg.Connection) -> IndexDropOutcome:
        schema, name, table, policy = self.schema, self.name, self.wanted.table, self.policy
        if not self.ours:
            return IndexDropOutcome(kept=True, sql=[f"-- left {schema}.{name}: fkguard adopted it and did not build it"])
        found = indexes.read(conn, schema, name)
        if found is None:
            return IndexDropOutcome(kept=False, sql=[f"-- {schema}.{name} is already gone"])
        needing = introspect.foreign_keys_on(conn, table, self.wanted.columns)
        if needing:
            marked = [] if found.fkguards else [indexes.mark(conn, schema, name, table, policy)]
            return IndexDropOutcome(kept=True, sql=[
                *marked, f"-- kept {schema}.{name}: the foreign key {', '.join(needing)} on {table} "
                         f"({', '.join(self.wanted.columns)}) still needs it; fkguard drops it with the last such key"])
        if introspect.relkind(conn, table) == "p":
            statement = ddl.drop_index(schema, name, concurrently=False)
            run_locked(conn, [statement], [table, *(t for t, _, _ in indexes.tree(conn, table))], policy,
                       what=f"dropping {schema}.{name}")
            return IndexDropOutcome(kept=False, sql=[statement.as_string(conn)])
        return IndexDropOutcome(kept=False, sql=[drop_concurrently(conn, schema, name, table, policy, self.sleep)])
