"""Measure 3: what Pulumi adds: `pulumi up` for no constraint, for the 16, and for 160 on synthetic
tables, against the same SQL through psql; the fixed cost and the cost per constraint."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import yaml
from psycopg import sql

from bench.stall import drop_all, psql
from fkguard import ddl
from fkguard.catalog import ForeignKey, QualifiedName
from fkguard.stack.settings import ConnectionSettings
from fkguard_testing.scratch import ScratchProject

SYNTHETIC = 160


def synthetic_catalog(settings: ConnectionSettings) -> list[dict]:
    """160 small child tables, each referencing one parent: the catalog a big schema would have."""
    script = [sql.SQL("DROP SCHEMA IF EXISTS bench_syn CASCADE"), sql.SQL("CREATE SCHEMA bench_syn"),
              sql.SQL("CREATE TABLE bench_syn.parent (id int PRIMARY KEY)"),
              sql.SQL("INSERT INTO bench_syn.parent SELECT generate_series(1, 1000)")]
    entries = []
    for i in range(SYNTHETIC):
        child = sql.Identifier("bench_syn", f"child_{i}")
        script += [sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, parent_id int)").format(child),
                   sql.SQL("INSERT INTO {} SELECT g, 1 + g % 1000 FROM generate_series(1, 200) g").format(child),
                   sql.SQL("CREATE INDEX ON {} (parent_id)").format(child)]
        entries.append({"name": f"fk_syn_{i}", "tier": ("critical", "high", "medium", "low")[i % 4],
                        "table": f"bench_syn.child_{i}", "columns": ["parent_id"], "references": "bench_syn.parent",
                        "referenced_columns": ["id"], "on_delete": "RESTRICT"})
    with settings.connect() as conn:
        psql(settings, sql.SQL("; ").join(script).as_string(conn))
    return entries


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def up(project: ScratchProject, *extra: str, env: dict[str, str] | None = None) -> float:
    return timed(lambda: project.run("up", "--stack", "local", "--yes", "--skip-plugin-pre-install", *extra, env=env))


def destroy(project: ScratchProject) -> None:
    project.run("destroy", "--stack", "local", "--yes", "--skip-plugin-pre-install")


def median_up(project: ScratchProject, runs: int, *extra: str, env: dict[str, str] | None = None) -> float:
    """The median of `runs` fresh `up`s, each destroyed after: one run can meet a busy moment."""
    times = []
    for _ in range(runs):
        times.append(up(project, *extra, env=env))
        destroy(project)
    return statistics.median(times)


def run(settings: ConnectionSettings, catalog: list[ForeignKey], project: ScratchProject, runs: int = 3) -> dict:
    drop_all(settings, catalog)
    project.run("config", "set", "fkguard:addTiers", "none", "--stack", "local")
    empty = median_up(project, runs)
    project.run("config", "rm", "fkguard:addTiers", "--stack", "local")
    sixteen = median_up(project, runs)
    with settings.connect() as conn:
        sql16 = "; ".join(ddl.add_not_valid(fk).as_string(conn) for fk in catalog)
    psql16 = timed(lambda: psql(settings, sql16))
    drop_all(settings, catalog)

    entries = synthetic_catalog(settings)
    (project.root / "synthetic.yaml").write_text(yaml.safe_dump({"constraints": entries}))
    project.run("config", "set", "fkguard:catalog", "synthetic.yaml", "--stack", "local")
    hundred_sixty = median_up(project, runs)
    # What the 160 cost is made of: `up` first previews (the program and every check run twice),
    # and the file backend rewrites the whole state after every step.
    no_preview = median_up(project, runs, "--skip-preview")
    no_checkpoints = median_up(project, runs, "--skip-preview", env={"PULUMI_SKIP_CHECKPOINTS": "true"})
    project.run("config", "rm", "fkguard:catalog", "--stack", "local")
    fks = [ForeignKey(e["name"], e["tier"], QualifiedName.parse(e["table"]), tuple(e["columns"]),
                      QualifiedName.parse(e["references"]), tuple(e["referenced_columns"]), "RESTRICT")
           for e in entries]
    with settings.connect() as conn:
        sql160 = "; ".join(ddl.add_not_valid(fk).as_string(conn) for fk in fks)
    psql160 = timed(lambda: psql(settings, sql160))
    psql(settings, "DROP SCHEMA bench_syn CASCADE")
    return {"runs": runs, "empty": empty, "16": sixteen, "160": hundred_sixty, "160_skip_preview": no_preview,
            "160_skip_preview_and_checkpoints": no_checkpoints, "psql_16": psql16, "psql_160": psql160,
            "marginal": (hundred_sixty - sixteen) / (SYNTHETIC - 16),
            "psql_marginal": (psql160 - psql16) / (SYNTHETIC - 16)}
