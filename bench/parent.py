"""Measure 6: the referenced side. A foreign key fires on every delete of a parent and every update
of its key: PostgreSQL looks up (and for CASCADE deletes) the referencing rows, inside the
application's transaction. Without an index leading with the referencing columns, that lookup scans
the whole referencing table once per parent row.

Each operation runs in a transaction rolled back (the data stays), timed from the client, three ways:
no foreign keys (baseline), the 16 foreign keys without the supporting indexes the schema lacks,
and the 16 with the indexes fkguard builds (ddl.create_index_concurrently, the statement the
referencing-index policy prints and the index resource runs). Repetitions stop at REPS or at the
time budget, whichever comes first (an unindexed scan of 10 million rows takes about a second)."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable

import psycopg
from psycopg import sql

from bench.stall import drop_all, psql, statements
from bench.stats import percentile
from fkguard import ddl, introspect
from fkguard.catalog import ForeignKey
from fkguard.stack.settings import ConnectionSettings

REPS = 30
MIN_REPS = 5
BUDGET_S = 60.0

Operation = Callable[[psycopg.Connection, int], None]


def _sample(conn: psycopg.Connection, table: str, n: int) -> list[str]:
    """n existing keys spread over the table: a block sample (a small table may give none: then its first rows)."""
    ident = sql.Identifier(table)
    rows = [r[0] for r in conn.execute(sql.SQL("SELECT id FROM {} TABLESAMPLE SYSTEM (5) LIMIT 500").format(ident))]
    rows = rows or [r[0] for r in conn.execute(sql.SQL("SELECT id FROM {} LIMIT 500").format(ident))]
    if not rows:
        raise RuntimeError(f"{table} is empty: the parent-side measure needs the APMS data")
    return [rows[(i * 7919) % len(rows)] for i in range(n)]


def operations(conn: psycopg.Connection) -> dict[str, tuple[str, Callable[[psycopg.Connection, int], float]]]:
    """Name -> (what the foreign keys do, a function timing the i-th repetition in ms)."""
    stages = _sample(conn, "workflow_stages", REPS)
    instances = _sample(conn, "workflow_instances", REPS)

    def timed(c: psycopg.Connection, steps: list[tuple[str, tuple]]) -> float:
        started = time.perf_counter()
        for query, params in steps:
            c.execute(query, params)
        return (time.perf_counter() - started) * 1000

    def delete_stage(c: psycopg.Connection, i: int) -> float:
        return timed(c, [("DELETE FROM workflow_stages WHERE id = %s", (stages[i],))])

    def delete_instance(c: psycopg.Connection, i: int) -> float:
        # As the application would: the RESTRICT children first, then the instance (its CASCADE children go with it).
        key = (instances[i],)
        return timed(c, [("DELETE FROM atp_submissions WHERE workflow_instance_id = %s", key),
                         ("DELETE FROM punchlists WHERE workflow_instance_id = %s", key),
                         ("DELETE FROM workflow_instances WHERE id = %s", key)])

    def delete_workspace(c: psycopg.Connection, i: int) -> float:
        # A workspace without children (one with children is refused by RESTRICT): every RESTRICT key is checked.
        key = f"bench-ws-{uuid.uuid4()}"
        c.execute("INSERT INTO workspaces (id, code, name) VALUES (%s, %s, 'bench')", (key, key))
        return timed(c, [("DELETE FROM workspaces WHERE id = %s", (key,))])

    def update_stage_key(c: psycopg.Connection, i: int) -> float:
        # A new stage's key changed (NO ACTION on update: PostgreSQL checks no action references the old key).
        old, new = f"bench-st-{uuid.uuid4()}", f"bench-st-{uuid.uuid4()}"
        c.execute("INSERT INTO workflow_stages (id, workflow_instance_id, stage_number, stage_name) "
                  "SELECT %s, workflow_instance_id, 99, 'bench' FROM workflow_stages WHERE id = %s", (old, stages[i]))
        return timed(c, [("UPDATE workflow_stages SET id = %s WHERE id = %s", (new, old))])

    return {
        "Delete a workflow stage": ("CASCADE to its actions", delete_stage),
        "Delete a workflow instance": ("RESTRICT children first, CASCADE to stages and actions", delete_instance),
        "Delete a workspace": ("RESTRICT from 7 tables (no children)", delete_workspace),
        "Update a stage's key": ("NO ACTION on update (no children)", update_stage_key),
    }


def _measure(settings: ConnectionSettings, op: Callable[[psycopg.Connection, int], float]) -> dict:
    samples: list[float] = []
    started = time.monotonic()
    with settings.connect(autocommit=False, application_name="fkguard-bench-parent") as conn:
        for i in range(REPS):
            with conn.transaction(force_rollback=True):
                samples.append(op(conn, i))
            if len(samples) >= MIN_REPS and time.monotonic() - started > BUDGET_S:
                break
    ordered = sorted(samples)
    return {"n": len(ordered), "p50": percentile(ordered, 0.50), "p95": percentile(ordered, 0.95),
            "max": ordered[-1], "avg": statistics.fmean(ordered)}


def _indexes(conn: psycopg.Connection) -> set[tuple[str, str]]:
    return set(conn.execute("SELECT n.nspname, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'").fetchall())


def missing_indexes(settings: ConnectionSettings, catalog: list[ForeignKey]) -> list[ForeignKey]:
    with settings.connect() as conn:
        return [fk for fk in catalog if not introspect.has_leading_index(conn, fk)]


def run(settings: ConnectionSettings, catalog: list[ForeignKey], progress: Callable[[str], None]) -> dict:
    with settings.connect() as conn:
        ops = operations(conn)
        scale = conn.execute("SELECT count(*) FROM workflow_stage_actions").fetchone()[0]
    unindexed = missing_indexes(settings, catalog)
    results: dict = {"rows": scale, "indexes_built": [fk.name for fk in unindexed], "ops": {}}

    drop_all(settings, catalog)
    progress(f"parent side at {scale:,} actions: no foreign keys")
    baseline = {name: _measure(settings, op) for name, (_, op) in ops.items()}
    psql(settings, statements(settings, catalog, naive=False))  # NOT VALID: the triggers fire all the same
    progress(f"parent side: the 16 foreign keys, {len(unindexed)} referencing column sets without an index")
    without = {name: _measure(settings, op) for name, (_, op) in ops.items()}
    built = time.monotonic()
    with settings.connect() as conn:
        before = _indexes(conn)
        for fk in unindexed:
            conn.execute(ddl.create_index_concurrently(fk))
        made = _indexes(conn) - before
    results["index_build_s"] = time.monotonic() - built
    progress(f"parent side: with fkguard's {len(unindexed)} indexes (built in {results['index_build_s']:.0f} s)")
    with_indexes = {name: _measure(settings, op) for name, (_, op) in ops.items()}

    with settings.connect() as conn:
        for schema, name in sorted(made):  # only what this measure built
            conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, name)))
    drop_all(settings, catalog)
    for name, (what, _) in ops.items():
        results["ops"][name] = {"what": what, "baseline": baseline[name], "fks_no_index": without[name],
                                "fks_with_index": with_indexes[name]}
    return results
