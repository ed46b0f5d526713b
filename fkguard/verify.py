"""The plan's runbook check (Step 3.5) and its behaviour tests (Step 3.3), proven on the live database.

Counts: tables, foreign keys, validated ones, CHECK constraints, orphans, type alignment, and each
catalog constraint against what the stack's config asks. Behaviour: for every catalog constraint
present, a write pointing at a missing parent is refused; a RESTRICT parent in use cannot be
deleted; a CASCADE delete takes the children along. All of it in one transaction rolled back.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import errors, sql

from fkguard import column_types, ddl, debt, introspect, orphans, rollout
from fkguard.catalog import ForeignKey, QualifiedName
from fkguard.desired import NOT_VALID, VALIDATED, desired, observed
from fkguard.errors import refusal
from fkguard.query_row import one
from fkguard.stack.options import Options

NO_DEBT = debt.Ledger(None)  # a verify that is told of no accepted debt


@dataclass(frozen=True)
class VerifyCheck:
    name: str
    ok: bool
    detail: str
    accepted: bool = False  # not a failure: orphans accepted as debt, kept NOT VALID on purpose

    @property
    def verdict(self) -> str:
        return "accepted" if self.accepted else ("ok" if self.ok else "FAIL")


# A missing parent is made per probe (see _missing_value) for these types; others are not exercised.
_INTEGER_RANGES = {"int2": (-2**15, 2**15 - 1), "int4": (-2**31, 2**31 - 1), "int8": (-2**63, 2**63 - 1)}
MISSING_TEXT_PREFIX = "fkguard-verify-"


def counts(conn: psycopg.Connection, catalog: list[ForeignKey], options: Options,
           debts: debt.Ledger = NO_DEBT, stack: str = "") -> tuple[dict, list[VerifyCheck]]:
    schemas = sorted({fk.table.schema for fk in catalog} | {fk.references.schema for fk in catalog})
    # Schemas compared by name: regnamespace::text would quote a mixed-case one and match nothing.
    n = one(conn.execute(
        "WITH s AS (SELECT oid FROM pg_namespace WHERE nspname = ANY(%(s)s)) "
        "SELECT (SELECT count(*) FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM s) "
        "        AND c.relkind IN ('r', 'p')),"
        " (SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace IN (SELECT oid FROM s)),"
        " (SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated "
        "        AND connamespace IN (SELECT oid FROM s)),"
        " (SELECT count(*) FROM pg_constraint WHERE contype = 'c' AND connamespace IN (SELECT oid FROM s))",
        {"s": schemas}))
    checks: list[VerifyCheck] = []
    total_orphans, accepted_orphans, misaligned = 0, 0, 0
    for fk in catalog:
        if not (introspect.table_exists(conn, fk.table) and introspect.table_exists(conn, fk.references)):
            checks.append(VerifyCheck(f"{fk.label}: tables", False, f"{fk.table} or {fk.references} does not exist"))
            continue
        accepted = debts.accepted(fk, stack)
        found = rollout.read(conn, fk)
        state = observed(found)
        goal = desired(fk, options, accepted)
        good = state == goal.state or (goal.state == NOT_VALID and state == VALIDATED)
        why = f"; {goal.why}" if goal.why else ""
        checks.append(VerifyCheck(f"{fk.label}: state", good, f"{state} (config: {goal.state}{why})"))
        if found is not None and not found.same_as(fk):
            checks.append(VerifyCheck(f"{fk.label}: definition", False, f"{found.definition} differs from the catalog"))
        count = orphans.count_orphans(conn, fk)
        total_orphans += count
        held = debts.standing(fk, stack, count, state == VALIDATED)
        if held.covering:
            accepted_orphans += count
            checks.append(VerifyCheck(f"{fk.label}: orphans", True, f"{count} rows without a parent, "
                                f"{debt.label(held.covering)}", accepted=True))
        elif count:
            over = f" ({accepted.orphans} accepted as debt)" if accepted else ""
            checks.append(VerifyCheck(f"{fk.label}: orphans", False, f"{count} rows without a parent{over}"))
        elif held.stale:
            checks.append(VerifyCheck(f"{fk.label}: debt", True, f"the accepted debt is stale ({held.stale}): "
                                f"fkguard debt -s {stack} --prune removes it"))
        for pair in column_types.pairings(conn, fk):
            waived = fk.waiver("column-types-match")
            if pair.blocking and waived:
                checks.append(VerifyCheck(f"{fk.label}: types", True, f"{fk.table}.{pair.column} is {pair.mine}, "
                                    f"{pair.referenced} is {pair.theirs}: {pair.reason}; {waived}"))
            elif pair.blocking:
                misaligned += 1
                checks.append(VerifyCheck(f"{fk.label}: types", False, f"{fk.table}.{pair.column} is {pair.mine}, "
                                    f"{pair.referenced} is {pair.theirs}: {pair.reason}"))
            elif pair.verdict != column_types.SAME:
                checks.append(VerifyCheck(f"{fk.label}: types", True, f"{fk.table}.{pair.column} is {pair.mine}, "
                                    f"{pair.referenced} is {pair.theirs}: {pair.reason}"))
    summary = {"tables": n[0], "foreign_keys": n[1], "validated_foreign_keys": n[2], "check_constraints": n[3],
               "orphans": total_orphans, "orphans_accepted_as_debt": accepted_orphans, "type_mismatches": misaligned}
    return summary, checks


@dataclass(frozen=True)
class _Outcome:
    refused_by: str | None = None  # the foreign key that refused the probe
    error: str | None = None  # any other error PostgreSQL raised: the probe says nothing about the key
    value: object = None  # what the probe's last statement read, before its savepoint was rolled back


def _probe(conn: psycopg.Connection, *steps: tuple[sql.Composed, tuple]) -> _Outcome:
    """Run the statements in a savepoint that is always rolled back, so no probe sees another's change."""
    try:
        with conn.transaction(force_rollback=True):
            row = None
            for statement, params in steps:
                cur = conn.execute(statement, params)
                row = cur.fetchone() if cur.description else None
    # PostgreSQL 18 reports a RESTRICT key's refusal as restrict_violation (23001), older ones as 23503.
    except (errors.ForeignKeyViolation, errors.RestrictViolation) as exc:
        return _Outcome(refused_by=exc.diag.constraint_name or "?")
    except psycopg.Error as exc:
        reason = refusal(exc)
        return _Outcome(error=reason)
    return _Outcome(value=row[0] if row else None)


def _base_type(conn: psycopg.Connection, table: QualifiedName, column: str) -> tuple[str, str, int]:
    """The column's type past a domain: its name, its category and its declared length (-1 if none)."""
    return one(conn.execute(  # the key's column exists: the constraint is there
        "SELECT b.typname, b.typcategory, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END "
        "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END "
        "WHERE a.attrelid = %s::regclass AND a.attname = %s",
        (ddl.table_ref(table).as_string(conn), column)))


def _missing_value(conn: psycopg.Connection, fk: ForeignKey, column: str, referenced: str) -> tuple[object, str | None]:
    """A value for `column` that no row of the parent has in `referenced`, or None and why there is none."""
    name, category, typmod = _base_type(conn, fk.table, column)
    if category == "S":
        # varchar(n) and char(n) store typmod - 4 characters; short ones are checked against the parent below.
        value = MISSING_TEXT_PREFIX + secrets.token_hex(8)
        return (value if typmod < 4 or typmod - 4 >= len(value) else secrets.token_hex(typmod)[:typmod - 4]), None
    if name == "uuid":
        return uuid.uuid4(), None
    if name in _INTEGER_RANGES or name == "numeric":
        low, high = one(conn.execute(sql.SQL("SELECT min({r}), max({r}) FROM {p}").format(
            r=sql.Identifier(referenced), p=ddl.table_ref(fk.references))))
        lowest, highest = _INTEGER_RANGES.get(name, (None, None))
        if high is None:
            return 1, None
        if highest is None or high + 1 <= highest:
            return high + 1, None
        if low - 1 >= lowest:
            return low - 1, None
        return None, f"{fk.references}.{referenced} already spans every value of {name}"
    return None, f"no value of type {name} is known to have no parent"


def _missing_parent(conn: psycopg.Connection, fk: ForeignKey, name: str) -> VerifyCheck:
    """Point one row of the table at a parent that provably does not exist: all key columns at once."""
    table, parent = ddl.table_ref(fk.table), ddl.table_ref(fk.references)
    values = []
    for col, ref in zip(fk.columns, fk.referenced_columns, strict=True):
        value, why_not = _missing_value(conn, fk, col, ref)
        if why_not:
            return VerifyCheck(name, True, f"not exercised: {why_not}")
        values.append(value)
    found = _probe(conn, (sql.SQL("SELECT EXISTS (SELECT 1 FROM {p} WHERE {match})").format(
        p=parent, match=sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(r))
                                              for r in fk.referenced_columns)), tuple(values)))
    if found.error or found.value:
        return VerifyCheck(name, True, f"not exercised: {found.error or 'the probe value has a parent after all'}")
    # ctid and tableoid name exactly one row, with or without a primary key, in a partition too.
    row = conn.execute(sql.SQL("SELECT tableoid, ctid::text FROM {} LIMIT 1").format(table)).fetchone()
    if row is None:
        return VerifyCheck(name, True, f"not exercised: {fk.table} has no row to point elsewhere")
    outcome = _probe(conn, (sql.SQL("UPDATE {t} SET {sets} WHERE tableoid = %s::oid AND ctid = %s::tid").format(
        t=table, sets=sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in fk.columns)),
        (*values, *row)))
    if outcome.refused_by == fk.name:
        return VerifyCheck(name, True, "a write pointing at a missing parent is refused")
    if outcome.refused_by or outcome.error:
        return VerifyCheck(name, True, f"not exercised: {outcome.error or f'{outcome.refused_by} refused first'}")
    return VerifyCheck(name, False, "a write pointing at a missing parent went through")


def _parent_in_use(conn: psycopg.Connection, fk: ForeignKey) -> tuple | None:
    """One parent row some row of the table points at, by its whole key: (tableoid, ctid, *key values)."""
    match = sql.SQL(" AND ").join(sql.SQL("c.{} = p.{}").format(sql.Identifier(c), sql.Identifier(r))
                                  for c, r in zip(fk.columns, fk.referenced_columns, strict=True))
    return conn.execute(sql.SQL("SELECT p.tableoid, p.ctid::text, {keys} FROM {p} p WHERE EXISTS "
                                "(SELECT 1 FROM {t} c WHERE {match}) LIMIT 1").format(
        keys=sql.SQL(", ").join(sql.SQL("p.{}").format(sql.Identifier(r)) for r in fk.referenced_columns),
        p=ddl.table_ref(fk.references), t=ddl.table_ref(fk.table), match=match)).fetchone()


def _on_delete(conn: psycopg.Connection, fk: ForeignKey, name: str) -> VerifyCheck:
    """Delete one parent in use: RESTRICT and NO ACTION must refuse, CASCADE must take the children along."""
    found = _parent_in_use(conn, fk)
    if found is None:
        return VerifyCheck(name, True, f"not exercised: no row of {fk.table} points at a row of {fk.references}")
    delete = (sql.SQL("DELETE FROM {} WHERE tableoid = %s::oid AND ctid = %s::tid").format(
        ddl.table_ref(fk.references)), found[:2])
    if fk.on_delete != "CASCADE":
        outcome = _probe(conn, delete)
        if outcome.error:
            return VerifyCheck(name, True, f"not exercised: {outcome.error}")
        by = outcome.refused_by
        return VerifyCheck(name, by is not None, "deleting a parent in use is refused" if by == fk.name
                     else f"not exercised: {by} refused first" if by else "a parent in use was deleted")
    children = (sql.SQL("SELECT count(*) FROM {t} WHERE {match}").format(
        t=ddl.table_ref(fk.table), match=sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(c))
                                                              for c in fk.columns)), found[2:])
    outcome = _probe(conn, delete, children)
    if outcome.refused_by:
        return VerifyCheck(name, True, f"not exercised: the parent is also held by another key ({outcome.refused_by})")
    if outcome.error:
        return VerifyCheck(name, True, f"not exercised: {outcome.error}")
    return VerifyCheck(name, outcome.value == 0, "the children went with their parent" if outcome.value == 0
                 else f"{outcome.value} children stayed behind")


def behaviours(conn: psycopg.Connection, catalog: list[ForeignKey]) -> list[VerifyCheck]:
    """Phase 3.3 for every catalog constraint present, each probe in a savepoint rolled back.

    A probe PostgreSQL refuses for another reason (a unique key, a CHECK, a generated column, a lock
    timeout...) is reported as not exercised: it says nothing about the foreign key."""
    checks = []
    with conn.transaction(force_rollback=True):
        # A DEFERRABLE INITIALLY DEFERRED key checks only at commit, which a rolled-back probe never reaches.
        conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for fk in catalog:
            if rollout.read(conn, fk) is None:
                continue
            checks.append(_guarded(conn, fk, f"{fk.label}: missing parent refused", _missing_parent))
            if fk.on_delete in _DELETE_PROBES:
                checks.append(_guarded(conn, fk, f"{fk.label}: {_DELETE_PROBES[fk.on_delete]}", _on_delete))
    return checks


_DELETE_PROBES = {"RESTRICT": "RESTRICT delete refused", "NO ACTION": "NO ACTION delete refused",
                  "CASCADE": "CASCADE delete"}


def _guarded(conn: psycopg.Connection, fk: ForeignKey, name: str,
             probe: Callable[[psycopg.Connection, ForeignKey, str], VerifyCheck]) -> VerifyCheck:
    """A probe whose reads PostgreSQL refuses (no SELECT right, a statement timeout) is not exercised either."""
    try:
        with conn.transaction():
            return probe(conn, fk, name)
    except psycopg.Error as exc:
        reason = refusal(exc)
        return VerifyCheck(name, True, f"not exercised: {reason}")


def verify(conn: psycopg.Connection, catalog: list[ForeignKey], options: Options,
           lock_timeout_ms: int = 3000, debts: debt.Ledger = NO_DEBT, stack: str = "") -> tuple[dict, list[VerifyCheck]]:
    with conn.transaction(force_rollback=True):
        conn.execute(ddl.set_local_timeouts(lock_timeout_ms, 60_000))
        summary, checks = counts(conn, catalog, options, debts, stack)
        checks += behaviours(conn, catalog)
    return summary, checks
