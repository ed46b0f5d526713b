"""Measure 7: the catalog's scale and the gate's cost. For N synthetic constraints (N = 160, 1,000,
2,000 by default): a gated `pulumi up` adding them, a no-change `pulumi preview` with and without the
policy pack, a no-change gated `pulumi up`, the sessions a gated preview opens, the state's size;
and beside them `pulumi up` of N dynamic resources that do nothing (bench/noop), the yardstick for
what is Pulumi's and what is fkguard's."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from psycopg import sql

from bench.stall import psql
from fkguard.stack.settings import ConnectionSettings
from fkguard_testing.scratch import ScratchProject
from fkguard_testing.sessions import sessions_opened

SCHEMA = "bench_scale"


def synthetic(settings: ConnectionSettings, n: int) -> list[dict]:
    """n small child tables (indexed, so no index is built), each referencing one parent."""
    script = [sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)),
              sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)),
              sql.SQL("CREATE TABLE {} (id int PRIMARY KEY)").format(sql.Identifier(SCHEMA, "parent")),
              sql.SQL("INSERT INTO {} SELECT generate_series(1, 100)").format(sql.Identifier(SCHEMA, "parent"))]
    entries = []
    for i in range(n):
        child = sql.Identifier(SCHEMA, f"child_{i}")
        script += [sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, parent_id int)").format(child),
                   sql.SQL("INSERT INTO {} SELECT g, 1 + g % 100 FROM generate_series(1, 20) g").format(child),
                   sql.SQL("CREATE INDEX ON {} (parent_id)").format(child)]
        entries.append({"name": f"fk_scale_{i}", "tier": ("critical", "high", "medium", "low")[i % 4],
                        "table": f"{SCHEMA}.child_{i}", "columns": ["parent_id"], "references": f"{SCHEMA}.parent",
                        "referenced_columns": ["id"], "on_delete": "RESTRICT"})
    with settings.connect() as conn:
        for start in range(0, len(script), 300):  # psql -c takes one argument: keep each batch small
            psql(settings, sql.SQL("; ").join(script[start:start + 300]).as_string(conn))
    return entries


def _timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def one_size(settings: ConnectionSettings, project: ScratchProject, noop: ScratchProject, n: int,
             measured: Callable[[dict], None] = lambda _: None) -> dict:
    """Each measure goes to measured(row so far) as soon as it is taken, the yardstick right after the gated
    `up` it is the yardstick of: at 1,000 constraints on a busy machine a size takes more than an hour, and a
    run cut short keeps its most telling numbers. The destroys (cleanup, not measured) come last."""
    entries = synthetic(settings, n)
    (project.root / "scale.yaml").write_text(yaml.safe_dump({"constraints": entries}))
    project.run("config", "set", "fkguard:catalog", "scale.yaml", "--stack", "local")
    r: dict = {"n": n}
    r["gated_up_add_s"] = _timed(lambda: project.gated("up", "--yes"))
    r["state_bytes"] = project.state_file("local").stat().st_size
    measured(r)
    noop.run("config", "set", "bench:resources", str(n), "--stack", "local")
    r["noop_up_s"] = _timed(lambda: noop.run("up", "--stack", "local", "--yes", "--skip-plugin-pre-install"))
    r["noop_state_bytes"] = noop.state_file("local").stat().st_size  # Pulumi's own bytes per resource, beside fkguard's
    r["noop_up_nochange_s"] = _timed(lambda: noop.run("up", "--stack", "local", "--yes", "--skip-plugin-pre-install"))
    measured(r)
    # The same number of no-op resources shaped like the keys (their properties, values of the same size): what
    # Pulumi charges for a resource holding a key's definition, told apart from what fkguard's parts add.
    noop.run("destroy", "--stack", "local", "--yes", "--skip-plugin-pre-install")
    (noop.root / "scale.yaml").write_text(yaml.safe_dump({"constraints": entries}))
    for key, value in (("bench:shape", "key"), ("bench:catalog", "scale.yaml")):
        noop.run("config", "set", key, value, "--stack", "local")
    r["keyshaped_up_s"] = _timed(lambda: noop.run("up", "--stack", "local", "--yes", "--skip-plugin-pre-install"))
    r["keyshaped_state_bytes"] = noop.state_file("local").stat().st_size
    measured(r)
    noop.run("config", "rm", "bench:shape", "--stack", "local")
    r["preview_s"] = _timed(lambda: project.run("preview", "--stack", "local", "--skip-plugin-pre-install"))
    measured(r)
    before = sessions_opened(settings)
    r["gated_preview_s"] = _timed(lambda: project.gated("preview"))
    r["gated_preview_sessions"] = sessions_opened(settings) - before
    measured(r)
    r["gated_up_nochange_s"] = _timed(lambda: project.gated("up", "--yes"))
    measured(r)
    noop.run("destroy", "--stack", "local", "--yes", "--skip-plugin-pre-install")
    project.run("destroy", "--stack", "local", "--yes", "--skip-plugin-pre-install")
    project.run("config", "rm", "fkguard:catalog", "--stack", "local")
    psql(settings, sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(SCHEMA)).as_string())
    return r


def run(settings: ConnectionSettings, project: ScratchProject, folder: Path, port: int, database: str,
        sizes: list[int], progress: Callable[[str], None],
        done: Callable[[list[dict]], None] = lambda _: None) -> list[dict]:
    """done(results so far) after each measure: a 1,000-constraint size takes most of an hour, and a run cut
    short must keep what it measured."""
    noop = ScratchProject.create(folder / "noop", port, database)
    for name in ("__main__.py", "noop_provider.py"):
        shutil.copy2(Path(__file__).resolve().parent / "noop" / name, noop.root / name)
    results: list[dict] = []
    for n in sizes:
        progress(f"catalog scale: {n:,} synthetic constraints, gated, and {n:,} no-op resources")
        results.append(one_size(settings, project, noop, n, lambda row: done([*results, row])))
        done(results)
    return results
