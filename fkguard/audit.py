"""The plan's Phase 1: orphans per relationship of the catalog, each counted in one set-based pass
with PostgreSQL's validation predicate, with a sample of the offending rows (Step 1.2)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from fkguard import ddl, debt, introspect, orphans
from fkguard.catalog import ForeignKey, QualifiedName
from fkguard.stack.settings import ConnectionSettings

# Besides the key, the columns that help someone decide what an orphan is (the plan shows
# id, the missing key, site_id, status and created_at); those a table has are shown.
DESCRIPTIVE = ("site_id", "code", "name", "status", "created_at")


@dataclass
class OrphanAudit:
    fk: ForeignKey
    orphans: int | None  # None: the tables are not there to audit
    columns: tuple[str, ...] = ()
    sample: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"constraint": self.fk.label, "tier": self.fk.tier, "table": str(self.fk.table),
                "columns": list(self.fk.columns), "references": str(self.fk.references), "orphans": self.orphans,
                "sample": self.sample, "seconds": round(self.seconds, 3), "note": self.note}


def primary_key(conn: psycopg.Connection, table: QualifiedName) -> tuple[str, ...]:
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE n.nspname = %s AND c.relname = %s AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
        (table.schema, table.name),
    ).fetchall()
    return tuple(r[0] for r in rows)


def sample_columns(conn: psycopg.Connection, fk: ForeignKey) -> tuple[str, ...]:
    present = {r[0] for r in conn.execute(
        "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 "
        "AND NOT a.attisdropped", (fk.table.schema, fk.table.name))}
    wanted = [*primary_key(conn, fk.table), *fk.columns, *(c for c in DESCRIPTIVE if c in present)]
    return tuple(dict.fromkeys(wanted))


def audit_one(conn: psycopg.Connection, fk: ForeignKey, sample_size: int = 5) -> OrphanAudit:
    started = time.monotonic()
    if not (introspect.table_exists(conn, fk.table) and introspect.table_exists(conn, fk.references)):
        return OrphanAudit(fk, None, note=f"{fk.table} or {fk.references} does not exist")
    count = orphans.count_orphans(conn, fk)
    return OrphanAudit(fk, count, *_sample(conn, fk, count, sample_size), time.monotonic() - started)


def _sample(conn: psycopg.Connection, fk: ForeignKey, count: int,
            sample_size: int) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    """The columns shown and the first orphans; no query at all where there is none to show."""
    if not (count and sample_size):
        return (), []
    columns = sample_columns(conn, fk)
    rows = orphans.sample_orphan_keys(conn, fk, sample_size, columns, row_factory=dict_row)
    return columns, [{c: _jsonable(v) for c, v in row.items()} for row in rows]


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def scan_plan(conn: psycopg.Connection, catalog: list[ForeignKey]) -> list[list[ForeignKey]]:
    """The passes the audit makes: relationships that reference the same key share one pass
    (orphans.count_orphans_together), and the passes go largest first. In catalog order the
    biggest (workflow_stage_actions, last in the plan) would run alone at the end while the other
    job sat idle; started first, it overlaps all the small ones."""
    passes: list[list[ForeignKey]] = []
    by_key: dict[tuple, list[ForeignKey]] = {}
    for fk in catalog:
        key = orphans.share_key(conn, fk) if introspect.table_exists(conn, fk.references) else None
        if key is None:
            passes.append([fk])
        elif key in by_key:
            by_key[key].append(fk)
        else:
            by_key[key] = [fk]
            passes.append(by_key[key])
    tables = list({t for fk in catalog for t in (fk.table, fk.references)})
    quoted = [ddl.table_ref(t).as_string(conn) for t in tables]
    rows = conn.execute(
        # A plain table is its own tree; pg_partition_tree lists partitions only.
        "SELECT coalesce(pg_relation_size(to_regclass(t)), 0) + coalesce((SELECT sum(pg_relation_size(relid)) "
        "FROM pg_partition_tree(to_regclass(t))), 0) FROM unnest(%s::text[]) WITH ORDINALITY u(t, n) ORDER BY n",
        (quoted,)).fetchall()
    size = {t: row[0] for t, row in zip(tables, rows, strict=True)}
    return sorted(passes, key=lambda p: -(size[p[0].references] + sum(size[fk.table] for fk in p)))


def audit_pass(conn: psycopg.Connection, fks: list[ForeignKey], sample_size: int = 5) -> list[OrphanAudit]:
    """One pass of scan_plan: a relationship alone, or several counted together, each then sampled."""
    if len(fks) == 1:
        return [audit_one(conn, fks[0], sample_size)]
    started = time.monotonic()
    counts = orphans.count_orphans_together(conn, fks)
    findings = [OrphanAudit(fk, count, *_sample(conn, fk, count, sample_size))
                for fk, count in zip(fks, counts, strict=True)]
    elapsed = time.monotonic() - started
    for finding in findings:
        finding.seconds = elapsed
        finding.note = f"counted in one pass with {', '.join(f.name for f in fks if f is not finding.fk)}"
    return findings


def audit(settings: ConnectionSettings, catalog: list[ForeignKey], sample_size: int = 5,
          progress: Callable[[str], None] = lambda _: None, jobs: int = 2) -> list[OrphanAudit]:
    """Every relationship, in the passes of scan_plan, `jobs` passes at a time, each on a
    connection of its own from a psycopg_pool pool (a read-only scan takes no lock that another
    scan waits for); findings come back in catalog order."""
    from psycopg_pool import ConnectionPool  # here: the policy pack's virtualenv imports fkguard without it

    done = 0
    lock = threading.Lock()
    with settings.connect() as first:  # an unreachable database is said here, in one line (SettingsError)
        passes = scan_plan(first, catalog)
    jobs = max(1, jobs)

    with ConnectionPool(kwargs=settings.connect_kwargs(), min_size=jobs, max_size=jobs, timeout=30,
                        name="fkguard-audit") as pool:
        def one(fks: list[ForeignKey]) -> list[OrphanAudit]:
            nonlocal done
            with pool.connection() as conn:
                findings = audit_pass(conn, fks, sample_size)
            with lock:
                for finding in findings:
                    done += 1
                    progress(f"audit: {done}/{len(catalog)} {finding.fk.label}: {finding.orphans} orphans, "
                             f"{finding.seconds:.2f}s")
            return findings

        with ThreadPoolExecutor(max_workers=jobs) as threads:
            found = {f.fk.qualified: f for findings in threads.map(one, passes) for f in findings}
    return [found[fk.qualified] for fk in catalog]


@dataclass
class Report:
    """An audit with the stack's accepted debt read against it (`fkguard audit`)."""
    findings: list[OrphanAudit]
    seconds: float
    accepted: dict[str, debt.Debt]  # label -> the entry that covers all of its orphans
    stale: dict[str, str]  # label -> why its entry is no longer needed

    @property
    def orphans(self) -> int:
        return sum(f.orphans or 0 for f in self.findings)

    @property
    def open_orphans(self) -> int:
        """The orphans no entry covers: what audit's exit code and the orphan gate stop at."""
        return sum(f.orphans or 0 for f in self.findings if f.fk.label not in self.accepted)


def report(settings: ConnectionSettings, chosen: list[ForeignKey], debts: debt.Ledger, stack: str,
           sample_size: int = 5, progress: Callable[[str], None] = lambda _: None, jobs: int = 2) -> Report:
    started = time.monotonic()
    findings = audit(settings, chosen, sample_size, progress=progress, jobs=jobs)
    elapsed = time.monotonic() - started
    held = {f.fk.label: debts.standing(f.fk, stack, f.orphans) for f in findings}
    return Report(findings, elapsed, {label: s.covering for label, s in held.items() if s.covering},
                  {label: s.stale for label, s in held.items() if s.stale})


def all_rows(conn: psycopg.Connection, fk: ForeignKey) -> Iterator[dict[str, Any]]:
    """Every orphan of one relationship, streamed (memory stays flat whatever their number)."""
    for row in orphans.stream_orphans(conn, fk, sample_columns(conn, fk), row_factory=dict_row):
        yield {c: _jsonable(v) for c, v in row.items()}
