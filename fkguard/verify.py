"""The plan's runbook check (Step 3.5) and its behaviour tests (Step 3.3), proven on the live database.

Counts: tables, foreign keys, validated ones, CHECK constraints, orphans, type alignment, and each
catalog constraint against what the stack's config asks. Behaviour: for every catalog constraint
present, a write pointing at a missing parent is refused; a RESTRICT parent in use cannot be
deleted; a CASCADE delete takes the children along. All of it in one transaction rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import errors, sql

from fkguard import column_types, ddl, debt, live, orphans
from fkguard.audit import primary_key
from fkguard.catalog import ForeignKey
from fkguard.desired import NOT_VALID, VALIDATED, desired
from fkguard.options import Options


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    accepted: bool = False  # not a failure: orphans accepted as debt, kept NOT VALID on purpose

    @property
    def verdict(self) -> str:
        return "accepted" if self.accepted else ("ok" if self.ok else "FAIL")


MISSING_PARENT = {"text": "fkguard-verify-missing-parent", "character varying": "fkguard-verify-missing-parent",
                  "uuid": "00000000-0000-4000-8000-00000000f1c6", "integer": -2147483647, "bigint": -2147483647}


def _type_of(conn, table, column) -> str:
    return conn.execute("SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = %s::regclass "
                        "AND attname = %s", (ddl.table_ref(table).as_string(conn), column)).fetchone()[0]


def counts(conn: psycopg.Connection, catalog: list[ForeignKey], options: Options,
           debts: list[debt.Debt] = (), stack: str = "") -> tuple[dict, list[Check]]:
    schemas = sorted({fk.table.schema for fk in catalog} | {fk.references.schema for fk in catalog})
    n = conn.execute(
        "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace "
        "        WHERE s.nspname = ANY(%(s)s) AND c.relkind IN ('r', 'p')),"
        " (SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace::regnamespace::text = ANY(%(s)s)),"
        " (SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated "
        "        AND connamespace::regnamespace::text = ANY(%(s)s)),"
        " (SELECT count(*) FROM pg_constraint WHERE contype = 'c' AND connamespace::regnamespace::text = ANY(%(s)s))",
        {"s": schemas}).fetchone()
    checks: list[Check] = []
    total_orphans, accepted_orphans, misaligned = 0, 0, 0
    for fk in catalog:
        if not (live.table_exists(conn, fk.table) and live.table_exists(conn, fk.references)):
            checks.append(Check(f"{fk.name}: tables", False, f"{fk.table} or {fk.references} does not exist"))
            continue
        accepted = debt.accepted(list(debts), fk.name, stack)
        found = live.read_constraint(conn, fk.table, fk.name)
        state = "absent" if found is None else ("validated" if found.validated else "not valid")
        goal = desired(fk, options, accepted)
        good = state == goal.state or (goal.state == NOT_VALID and state == VALIDATED)
        why = f"; {goal.why}" if goal.why else ""
        checks.append(Check(f"{fk.name}: state", good, f"{state} (config: {goal.state}{why})"))
        if found is not None and not found.same_as(fk):
            checks.append(Check(f"{fk.name}: definition", False, f"{found.definition} differs from the catalog"))
        count = orphans.count_orphans(conn, fk)
        total_orphans += count
        stale = accepted and debt.stale_reason(accepted, count, state == VALIDATED, True)
        if count and accepted and count <= accepted.orphans:
            accepted_orphans += count
            checks.append(Check(f"{fk.name}: orphans", True, f"{count} rows without a parent, "
                                f"{debt.label(accepted)}", accepted=True))
        elif count:
            over = f" ({accepted.orphans} accepted as debt)" if accepted else ""
            checks.append(Check(f"{fk.name}: orphans", False, f"{count} rows without a parent{over}"))
        elif stale:
            checks.append(Check(f"{fk.name}: debt", True, f"the accepted debt is stale ({stale}): "
                                f"fkguard debt -s {stack} --prune removes it"))
        for pair in column_types.pairings(conn, fk):
            if pair.blocking:
                misaligned += 1
                checks.append(Check(f"{fk.name}: types", False, f"{fk.table}.{pair.column} is {pair.mine}, "
                                    f"{pair.referenced} is {pair.theirs}: {pair.reason}"))
            elif pair.verdict != column_types.SAME:
                checks.append(Check(f"{fk.name}: types", True, f"{fk.table}.{pair.column} is {pair.mine}, "
                                    f"{pair.referenced} is {pair.theirs}: {pair.reason}"))
    summary = {"tables": n[0], "foreign_keys": n[1], "validated_foreign_keys": n[2], "check_constraints": n[3],
               "orphans": total_orphans, "orphans_accepted_as_debt": accepted_orphans, "type_mismatches": misaligned}
    return summary, checks


def _violation(conn: psycopg.Connection, statement: sql.Composable, params: tuple = ()) -> str | None:
    """The constraint that refused the statement (in a savepoint), or None if it went through."""
    try:
        with conn.transaction():
            conn.execute(statement, params)
    except errors.ForeignKeyViolation as exc:
        return exc.diag.constraint_name or "?"
    return None


def behaviours(conn: psycopg.Connection, catalog: list[ForeignKey]) -> list[Check]:
    """Phase 3.3 for every catalog constraint present; the caller rolls the whole transaction back."""
    checks = []
    for fk in catalog:
        if not live.table_exists(conn, fk.table) or live.read_constraint(conn, fk.table, fk.name) is None:
            continue
        table, parent = ddl.table_ref(fk.table), ddl.table_ref(fk.references)
        col, ref = sql.Identifier(fk.columns[0]), sql.Identifier(fk.referenced_columns[0])
        pk = primary_key(conn, fk.table)
        missing = MISSING_PARENT.get(_type_of(conn, fk.table, fk.columns[0]))
        if pk and missing is not None:
            row = conn.execute(sql.SQL("SELECT {pk} FROM {t} WHERE {c} IS NOT NULL LIMIT 1").format(
                pk=sql.Identifier(pk[0]), t=table, c=col)).fetchone()
            if row:
                by = _violation(conn, sql.SQL("UPDATE {t} SET {c} = %s WHERE {pk} = %s").format(
                    t=table, c=col, pk=sql.Identifier(pk[0])), (missing, row[0]))
                checks.append(Check(f"{fk.name}: missing parent refused", by == fk.name,
                                    "a write pointing at a missing parent is refused" if by == fk.name
                                    else "a write pointing at a missing parent went through"))
        child = conn.execute(sql.SQL("SELECT {c} FROM {t} c WHERE {c} IS NOT NULL AND EXISTS "
                                     "(SELECT 1 FROM {p} p WHERE p.{r} = c.{c}) LIMIT 1").format(
            c=col, t=table, p=parent, r=ref)).fetchone()
        if child is None:
            continue
        if fk.on_delete in ("RESTRICT", "NO ACTION"):
            by = _violation(conn, sql.SQL("DELETE FROM {p} WHERE {r} = %s").format(p=parent, r=ref), (child[0],))
            detail = ("deleting a parent in use is refused" if by == fk.name
                      else f"not exercised: {by} refused first" if by else "a parent in use was deleted")
            checks.append(Check(f"{fk.name}: {fk.on_delete} delete refused", by is not None, detail))
        elif fk.on_delete == "CASCADE":
            try:
                with conn.transaction():
                    conn.execute(sql.SQL("DELETE FROM {p} WHERE {r} = %s").format(p=parent, r=ref), (child[0],))
                    left = conn.execute(sql.SQL("SELECT count(*) FROM {t} WHERE {c} = %s").format(t=table, c=col),
                                        (child[0],)).fetchone()[0]
                    raise _Rollback(left)
            except _Rollback as done:
                checks.append(Check(f"{fk.name}: CASCADE delete", done.left == 0,
                                    "the children went with their parent" if done.left == 0
                                    else f"{done.left} children stayed behind"))
            except errors.ForeignKeyViolation as exc:
                checks.append(Check(f"{fk.name}: CASCADE delete", True,
                                    f"not exercised: the parent is also held by another key "
                                    f"({exc.diag.constraint_name})"))
    return checks


class _Rollback(Exception):
    def __init__(self, left: int) -> None:
        self.left = left


def verify(conn: psycopg.Connection, catalog: list[ForeignKey], options: Options,
           lock_timeout_ms: int = 3000, debts: list[debt.Debt] = (), stack: str = "") -> tuple[dict, list[Check]]:
    with conn.transaction(force_rollback=True):
        conn.execute(ddl.set_local_timeouts(lock_timeout_ms, 60_000))
        summary, checks = counts(conn, catalog, options, debts, stack)
        checks += behaviours(conn, catalog)
    return summary, checks
