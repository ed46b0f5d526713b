"""The plan's Step 5.6 (watch the first 24 hours) and its rollback matrix, done by the tool.

`snapshot` reads what the server's statistics say about the tables a rollout touches; the program
takes one before its first change (resources/baseline.py) and keeps it in the stack's state.
`compare` sets a later snapshot against it and gives the plan's verdict:

- statement latency, from pg_stat_statements when the extension is installed: for each statement
  naming an affected table (fkguard's own orphan counts aside), its mean time since the baseline
  against its mean time before. The plan calls up to +10 ms acceptable and more than +20 ms a
  rollback; between the two, investigate.
- error rate: the share of transactions rolled back since the baseline against before (the plan's
  "error rate increase > 5%" is a rollback).
- deadlocks since the baseline (investigate).
- the referenced side: rows deleted from or updated in a referenced table since the baseline while
  the referencing columns lead no index, so each of those made PostgreSQL scan the referencing
  table (investigate, with the index to build).
- the standbys, now (fkguard.replicas): one replaying more than fkguard:maxReplicaLag behind (investigate),
  and the oldest open transaction, which a long VALIDATE is, holding back vacuum's horizon (shown).

Without pg_stat_statements the latency is not measured, and the verdict says so rather than
guessing from table counters (fkguard's own VALIDATE and audit scans move those).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg.rows import dict_row

from fkguard import introspect, orphans, replicas, resource_properties
from fkguard.catalog import ForeignKey, QualifiedName

# The plan's thresholds (Phase 4 "+5-10ms max", rollback matrix "degradation >20ms", "error rate >5%").
ACCEPTABLE_MS = 10.0
ROLLBACK_MS = 20.0
ERROR_RATE_POINTS = 5.0
# A mean over fewer calls than this says more about chance than about the rollout.
MIN_CALLS = 5
# The snapshot lives in the stack's state: keep the statements it holds bounded.
MAX_STATEMENTS = 200

# The resource that keeps the baseline in the stack (resources/baseline.py registers it under this name).
BASELINE_NAME = "MonitorBaseline"
BASELINE_TYPE = resource_properties.type_token(BASELINE_NAME)
ACCEPTABLE, INVESTIGATE, ROLLBACK = "acceptable", "investigate", "rollback"
_RANK = {ACCEPTABLE: 0, INVESTIGATE: 1, ROLLBACK: 2}

_STATEMENTS = """
SELECT s.queryid::text AS queryid, left(s.query, 300) AS query, sum(s.calls)::bigint AS calls,
       sum(s.total_exec_time)::float8 AS total_ms
FROM pg_stat_statements s
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND s.query ~* %s AND s.query NOT LIKE %s
GROUP BY s.queryid, left(s.query, 300)
ORDER BY sum(s.total_exec_time) DESC
LIMIT %s
"""

_TABLE = """
SELECT coalesce(seq_scan, 0) AS seq_scan, coalesce(seq_tup_read, 0) AS seq_tup_read,
       coalesce(n_tup_del, 0) AS n_tup_del, coalesce(n_tup_upd, 0) AS n_tup_upd
FROM pg_stat_user_tables WHERE schemaname = %s AND relname = %s
"""

_DATABASE = """
SELECT xact_commit, xact_rollback, deadlocks FROM pg_stat_database WHERE datname = current_database()
"""


def has_statements(conn: psycopg.Connection) -> bool:
    """pg_stat_statements is installed in this database and its library loaded (it errors otherwise)."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'").fetchone() is None:
        return False
    try:
        with conn.transaction():
            conn.execute("SELECT 1 FROM pg_stat_statements LIMIT 1")
    except psycopg.errors.ObjectNotInPrerequisiteState:  # not in shared_preload_libraries
        return False
    return True


def _names_pattern(tables: Iterable[QualifiedName]) -> str:
    """A regex matching any of the tables' names as a word (quoted or not) in a statement's text."""
    names = sorted({t.name for t in tables})
    return r"(^|[^a-z0-9_$])(" + "|".join(re.escape(n) for n in names) + r")($|[^a-z0-9_$])"


def snapshot(conn: psycopg.Connection, tables: Sequence[QualifiedName]) -> dict[str, Any]:
    """What the statistics say now about these tables, as plain data (kept in the stack's state)."""
    with conn.cursor(row_factory=dict_row) as cur:
        database = cur.execute(_DATABASE).fetchone() or {}
        per_table = {}
        for table in tables:
            row = cur.execute(_TABLE, (table.schema, table.name)).fetchone()
            per_table[str(table)] = dict(row) if row else {}
    statements: list[dict[str, Any]] = []
    source = "table statistics"
    if tables and has_statements(conn):
        source = "pg_stat_statements"
        with conn.cursor(row_factory=dict_row) as cur:
            ours = orphans.OWN_STATEMENT + "%"
            statements = [dict(r) for r in cur.execute(_STATEMENTS, (_names_pattern(tables), ours, MAX_STATEMENTS))]
    # The statistics' own clock: a later snapshot older than a reset cannot be compared.
    reset = conn.execute("SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()").fetchone()
    return {
        "takenAt": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "statsReset": reset[0].isoformat() if reset and reset[0] else None,
        "source": source,
        "tables": per_table,
        "database": {k: int(v) for k, v in database.items()},
        "statements": statements,
    }


@dataclass
class MonitorFinding:
    verdict: str
    what: str
    constraints: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "what": self.what, "constraints": self.constraints}


@dataclass
class Report:
    verdict: str
    source: str
    since: str
    findings: list[MonitorFinding]
    statements: list[dict[str, Any]]
    rollback_command: str | None = None
    replication: replicas.Replication | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "source": self.source, "since": self.since,
                "findings": [f.as_dict() for f in self.findings], "statements": self.statements,
                "rollbackCommand": self.rollback_command,
                "replication": self.replication.as_dict() if self.replication else None}


def _latency(before: dict[str, Any], now: dict[str, Any], min_calls: int) -> list[dict[str, Any]]:
    """Per statement seen before and since the baseline: mean before, mean since, the difference."""
    old = {s["queryid"]: s for s in before.get("statements") or []}
    rows = []
    for s in now.get("statements") or []:
        b = old.get(s["queryid"])
        if b is None or b["calls"] < min_calls:
            continue  # no history to compare with
        calls = s["calls"] - b["calls"]
        if calls < min_calls:
            continue
        mean_before = b["total_ms"] / b["calls"]
        mean_since = (s["total_ms"] - b["total_ms"]) / calls
        rows.append({"query": " ".join(s["query"].split()), "calls_since": calls, "mean_before_ms": round(mean_before, 3),
                     "mean_since_ms": round(mean_since, 3), "delta_ms": round(mean_since - mean_before, 3)})
    return sorted(rows, key=lambda r: -r["delta_ms"])


def _constraints_named_in(query: str, catalog: Sequence[ForeignKey]) -> list[str]:
    words = set(re.findall(r"[a-z0-9_$]+", query.lower()))
    return [fk.label for fk in catalog if fk.table.name.lower() in words or fk.references.name.lower() in words]


def database_findings(before_db: dict[str, int], now_db: dict[str, int]) -> list[MonitorFinding]:
    """The error rate (the plan: up by more than 5 points is a rollback) and deadlocks since the baseline,
    from pg_stat_database's counters then and now."""
    findings: list[MonitorFinding] = []
    done_before = before_db.get("xact_commit", 0) + before_db.get("xact_rollback", 0)
    commits = now_db.get("xact_commit", 0) - before_db.get("xact_commit", 0)
    rollbacks = now_db.get("xact_rollback", 0) - before_db.get("xact_rollback", 0)
    if done_before and commits + rollbacks >= 100:
        rate_before = 100.0 * before_db.get("xact_rollback", 0) / done_before
        rate_since = 100.0 * rollbacks / (commits + rollbacks)
        if rate_since - rate_before > ERROR_RATE_POINTS:
            findings.append(MonitorFinding(ROLLBACK, f"transactions rolled back: {rate_since:.1f}% since the baseline against "
                                              f"{rate_before:.1f}% before (foreign key violations are among the causes: "
                                              f"look for SQLSTATE 23503 in the server log)"))
    deadlocks = now_db.get("deadlocks", 0) - before_db.get("deadlocks", 0)
    if deadlocks > 0:
        findings.append(MonitorFinding(INVESTIGATE, f"{deadlocks} deadlock(s) since the baseline (the server log names the "
                                             f"statements)"))
    return findings


def replication_findings(found: replicas.Replication, max_lag_ms: int) -> list[MonitorFinding]:
    """A standby replaying more than fkguard:maxReplicaLag behind: what the next rollout step would wait for."""
    return [MonitorFinding(INVESTIGATE, f"standby {s.describe()} replays {s.replay_lag_s:.1f} s behind, above "
                                        f"{replicas.LAG_KEY} {max_lag_ms / 1000:g}s: fkguard's next change waits for it")
            for s in replicas.lagging(found.standbys, max_lag_ms)] if max_lag_ms > 0 else []


def compare(conn: psycopg.Connection, baseline: dict[str, Any], catalog: Sequence[ForeignKey], stack: str, *,
            min_calls: int = MIN_CALLS, acceptable_ms: float = ACCEPTABLE_MS, rollback_ms: float = ROLLBACK_MS,
            replication: replicas.Replication | None = None, max_replica_lag_ms: int = 0) -> Report:
    """The verdict on what changed since the baseline, for the constraints of the catalog (and, given what
    fkguard.replicas saw, on the standbys' lag)."""
    tables = [QualifiedName.parse(t) for t in baseline.get("tables") or {}]
    now = snapshot(conn, tables)
    findings: list[MonitorFinding] = []
    if baseline.get("statsReset") != now.get("statsReset") or any(
            now["database"].get(k, 0) < v for k, v in (baseline.get("database") or {}).items()):
        findings.append(MonitorFinding(INVESTIGATE, "the statistics were reset since the baseline: nothing can be compared; "
                                             "the next rollout takes a new baseline"))
        return Report(INVESTIGATE, now["source"], baseline.get("takenAt", "?"), findings, [], replication=replication)

    latency: list[dict[str, Any]] = []
    if baseline.get("source") == "pg_stat_statements" and now["source"] == "pg_stat_statements":
        latency = _latency(baseline, now, min_calls)
        for row in latency:
            if row["delta_ms"] > acceptable_ms:
                verdict = ROLLBACK if row["delta_ms"] > rollback_ms else INVESTIGATE
                findings.append(MonitorFinding(verdict, f"{row['delta_ms']:+.1f} ms per call ({row['mean_before_ms']:.1f} -> "
                                                 f"{row['mean_since_ms']:.1f} ms over {row['calls_since']} calls): "
                                                 f"{row['query'][:120]}", _constraints_named_in(row["query"], catalog)))
    else:
        findings.append(MonitorFinding(ACCEPTABLE, "latency not measured: pg_stat_statements is not installed in this database "
                                            "(shared_preload_libraries = 'pg_stat_statements', then CREATE EXTENSION "
                                            "pg_stat_statements, before the next rollout)"))

    findings += database_findings(baseline.get("database") or {}, now["database"])
    if replication is not None:
        findings += replication_findings(replication, max_replica_lag_ms)

    for fk in catalog:
        parent, child = now["tables"].get(str(fk.references)) or {}, now["tables"].get(str(fk.table)) or {}
        parent_before = (baseline.get("tables") or {}).get(str(fk.references)) or {}
        changed = sum(parent.get(k, 0) - parent_before.get(k, 0) for k in ("n_tup_del", "n_tup_upd"))
        if changed <= 0 or not child or introspect.read_constraint(conn, fk.table, fk.name) is None:
            continue
        if not introspect.has_leading_index(conn, fk):
            findings.append(MonitorFinding(INVESTIGATE, f"{changed} row(s) deleted from or updated in {fk.references} since the "
                                                 f"baseline, and no index leads with {fk.table} ({', '.join(fk.columns)}): "
                                                 f"each made {fk.label} scan {fk.table}; build the index "
                                                 f"(CREATE INDEX CONCURRENTLY) or roll back", [fk.label]))

    verdict = max((f.verdict for f in findings), key=_RANK.__getitem__, default=ACCEPTABLE)
    command = None
    if verdict == ROLLBACK:
        names = sorted({n for f in findings if f.verdict == ROLLBACK for n in f.constraints})
        present = [fk.label for fk in catalog if fk.label in names]
        command = (f"fkguard rollback -s {stack} " + " ".join(f"--constraint {n}" for n in present) if present
                   else f"fkguard rollback -s {stack} " + " ".join(f"--tier {t}" for t in sorted({fk.tier for fk in catalog})))
    return Report(verdict, now["source"], baseline.get("takenAt", "?"), findings, latency, command, replication)
