"""Measure 7: the catalog's scale and the gate's cost. For N synthetic constraints (N = 160, 1,000,
2,000 by default): a gated `pulumi up` adding them, a no-change `pulumi preview` with and without the
policy pack, a no-change gated `pulumi up`, the sessions a gated preview opens, the state's size;
and beside them `pulumi up` of N dynamic resources that do nothing (bench/noop), the yardstick for
what is Pulumi's and what is fkguard's. Beside the synthetic sizes, real schemas (--scale-schema): a
schema file's declared keys as the catalog, in a database of its own (real_schema)."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml
from psycopg import sql

from bench import discover, memory
from bench import split as bench_split
from bench.stall import psql
from fkguard.catalog import TIERS, load_catalog
from fkguard.stack.settings import ConnectionSettings
from fkguard_testing.scratch import PROJECT, ScratchProject
from fkguard_testing.sessions import sessions_opened

SCHEMA = "bench_scale"


def child_schemas(split: int) -> list[str]:
    """Where the child tables go: SCHEMA, or for a split into K stacks (bench.split) K schemas of their own."""
    return [f"{SCHEMA}_{j}" for j in range(split)] if split > 1 else [SCHEMA]


def synthetic(settings: ConnectionSettings, n: int, split: int = 0) -> list[dict]:
    """n small child tables (indexed, so no index is built), each referencing one parent; spread in turn over
    child_schemas(split)."""
    spread = child_schemas(split)
    script = [sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(s)) for s in {SCHEMA, *spread}]
    script += [sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(s)) for s in dict.fromkeys([SCHEMA, *spread])]
    script += [sql.SQL("CREATE TABLE {} (id int PRIMARY KEY)").format(sql.Identifier(SCHEMA, "parent")),
               sql.SQL("INSERT INTO {} SELECT generate_series(1, 100)").format(sql.Identifier(SCHEMA, "parent"))]
    entries = []
    for i in range(n):
        schema = spread[i % len(spread)]
        child = sql.Identifier(schema, f"child_{i}")
        script += [sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, parent_id int)").format(child),
                   sql.SQL("INSERT INTO {} SELECT g, 1 + g % 100 FROM generate_series(1, 20) g").format(child),
                   sql.SQL("CREATE INDEX ON {} (parent_id)").format(child)]
        entries.append({"name": f"fk_scale_{i}", "tier": ("critical", "high", "medium", "low")[i % 4],
                        "table": f"{schema}.child_{i}", "columns": ["parent_id"], "references": f"{SCHEMA}.parent",
                        "referenced_columns": ["id"], "on_delete": "RESTRICT"})
    with settings.connect() as conn:
        for start in range(0, len(script), 300):  # psql -c takes one argument: keep each batch small
            psql(settings, sql.SQL("; ").join(script[start:start + 300]).as_string(conn))
    return entries


def real_schema(path: Path, progress: Callable[[str], None] = lambda _: None) -> tuple[ConnectionSettings, list[dict]]:
    """A schema file from outside the project (Lago's db/structure.sql, say) in a database of its own, as
    bench.discover loads one: its declared foreign keys recorded and dropped, its empty tables filled with rows
    that satisfy them; those keys, as declared, are the catalog (each entry's tier in turn, as the synthetic
    ones are). Nothing of the file is written into the project: the catalog goes to the scratch copy."""
    loaded = discover.load_stripped([path], database_of(path))
    # What of the file this server refused and which tables stayed empty: the row measures the keys that loaded.
    progress(f"{path.name}: {len(loaded.keys)} declared keys, {loaded.refused} statements refused, {loaded.filled} empty "
             f"tables filled ({len(loaded.failures)} left empty), {loaded.repaired} rows repaired")
    for note in loaded.notes[:4] + loaded.failures[:4]:
        progress(f"  {note}")
    entries, names = [], set()
    for i, (table_of, constraint, (child, cols, parent, rcols)) in enumerate(sorted(loaded.keys)):
        name, k = constraint, 2
        while name in names:  # a name is the table's: the catalog's resources need them apart
            name, k = f"{constraint[:58]}_{k}", k + 1
        names.add(name)
        on_delete, on_update = loaded.actions[(table_of, constraint)]
        entry = {"name": name, "tier": TIERS[i % len(TIERS)], "table": child, "columns": list(cols),
                 "references": parent, "referenced_columns": list(rcols), "on_delete": on_delete}
        if on_update != "NO ACTION":
            entry["on_update"] = on_update
        entries.append(entry)
    return loaded.settings, entries


def database_of(path: Path) -> str:
    return "bench_scale_" + re.sub(r"\W+", "_", path.stem.lower())


def _timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def _measured_run(r: dict, key: str, action: Callable[[], object]) -> None:
    """r[key]: the seconds action took; r[key + "_mem"]: its processes' peak resident memory (bench.memory)."""
    with memory.peaks() as peaks:
        r[key] = _timed(action)
    r[f"{key}_mem"] = peaks


def _resources(state: Path) -> int:
    return len(json.loads(state.read_text()).get("checkpoint", {}).get("latest", {}).get("resources") or [])


def _fkguard_add(settings: ConnectionSettings, project: ScratchProject, r: dict,
                 measured: Callable[[dict], None]) -> None:
    before = sessions_opened(settings)
    _measured_run(r, "gated_preview_create_s", lambda: project.gated("preview"))
    r["gated_preview_create_sessions"] = sessions_opened(settings) - before
    measured(r)
    _measured_run(r, "gated_up_add_s", lambda: project.gated("up", "--yes"))
    r["state_bytes"] = project.state_file("local").stat().st_size
    r["resources"] = _resources(project.state_file("local"))
    measured(r)


def _yardstick(noop: ScratchProject, entries: list[dict], r: dict, measured: Callable[[dict], None]) -> None:
    """`pulumi up` of as many no-op resources, one property each, then shaped like the keys."""
    n = len(entries)
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
    # Pulumi's own price of a Python policy pack: as many policies as fkguard's, judging nothing (bench/noop/pack).
    plain = ("preview", "--stack", "local", "--skip-plugin-pre-install")
    r["keyshaped_preview_s"] = _timed(lambda: noop.run(*plain))
    r["keyshaped_preview_pack_s"] = _timed(lambda: noop.run(*plain, "--policy-pack", NOOP_PACK,
                                                          env={"BENCH_PACK_POLICIES": str(len(pack_policies()))}))
    measured(r)
    noop.run("config", "rm", "bench:shape", "--stack", "local")
    noop.run("destroy", "--stack", "local", "--yes", "--skip-plugin-pre-install")


NOOP_PACK = "noop-pack"


def pack_policies() -> list[str]:
    """The modules of fkguard's pack, as policies/__main__.py lists them."""
    return re.findall(r"^\s+(\w+)\.POLICY,$", (PROJECT / "policies" / "__main__.py").read_text(), re.M)


def add_noop_pack(noop: ScratchProject) -> None:
    """The yardstick pack beside the no-op project, run in fkguard's pack virtualenv (pulumi-policy's pins)."""
    shutil.copytree(Path(__file__).resolve().parent / "noop" / "pack", noop.root / NOOP_PACK,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (noop.root / NOOP_PACK / "PulumiPolicy.yaml").write_text(yaml.safe_dump({
        "runtime": {"name": "python", "options": {"virtualenv": str(noop.root / "policies" / ".venv")}},
        "description": "the yardstick: as many policies as fkguard's, judging nothing"}))


def _fkguard_nochange(settings: ConnectionSettings, project: ScratchProject, r: dict,
                      measured: Callable[[dict], None]) -> None:
    plain = ("--stack", "local", "--skip-plugin-pre-install")
    r["preview_s"] = _timed(lambda: project.run("preview", *plain))
    measured(r)
    _measured_run(r, "plain_up_nochange_s", lambda: project.run("up", *plain, "--yes"))
    measured(r)
    before = sessions_opened(settings)
    r["gated_preview_s"] = _timed(lambda: project.gated("preview"))
    r["gated_preview_sessions"] = sessions_opened(settings) - before
    measured(r)
    _measured_run(r, "gated_up_nochange_s", lambda: project.gated("up", "--yes"))
    measured(r)
    # CI's deploy after a green gated preview (README, The policy gate): the gate once, in the update.
    _measured_run(r, "gated_up_nochange_skip_preview_s", lambda: project.gated("up", "--yes", "--skip-preview"))
    measured(r)


def one_size(settings: ConnectionSettings, project: ScratchProject, noop: ScratchProject, entries: list[dict],
             measured: Callable[[dict], None] = lambda _: None, schema: str | None = None) -> dict:
    """Each measure goes to measured(row so far) as soon as it is taken, the yardstick right after the gated
    `up` it is the yardstick of: at 1,000 constraints on a busy machine a size takes more than an hour, and a
    run cut short keeps its most telling numbers. The destroys (cleanup, not measured) come last."""
    catalog = project.root / "scale.yaml"
    catalog.write_text(yaml.safe_dump({"constraints": entries}))
    r: dict = {"n": len(entries), "catalog_loads": len(load_catalog(catalog))}  # fkguard's own reader takes it
    if schema:  # and its keys' declared actions, as its catalog took them
        r["schema"] = schema
        r["on_delete"] = dict(Counter(e["on_delete"] for e in entries))
    for key, value in (("fkguard:catalog", "scale.yaml"), ("postgresql:database", settings.database)):
        project.run("config", "set", key, value, "--stack", "local")
    _fkguard_add(settings, project, r, measured)
    _yardstick(noop, entries, r, measured)
    _fkguard_nochange(settings, project, r, measured)
    project.run("destroy", "--stack", "local", "--yes", "--skip-plugin-pre-install")
    project.run("config", "rm", "fkguard:catalog", "--stack", "local")
    return r


def run(settings: ConnectionSettings, project: ScratchProject, folder: Path, port: int, database: str,
        sizes: list[int], progress: Callable[[str], None],
        done: Callable[[list[dict]], None] = lambda _: None, schemas: Sequence[Path] = (), split: int = 0,
        parallel: int = 2) -> list[dict]:
    """done(results so far) after each measure: a 1,000-constraint size takes most of an hour, and a run cut
    short must keep what it measured. With `split` K, each size's catalog spreads over K schemas, and after its
    one-stack row comes the row of the same catalog split across K stacks run by fkguard fleet, `parallel` at a
    time (bench.split). Then each real schema file, the same measures, in a database of its own."""
    noop = ScratchProject.create(folder / "noop", port, database)
    for name in ("__main__.py", "noop_provider.py"):
        shutil.copy2(Path(__file__).resolve().parent / "noop" / name, noop.root / name)
    add_noop_pack(noop)
    results: list[dict] = []
    for n in sizes:
        progress(f"catalog scale: {n:,} synthetic constraints, gated, and {n:,} no-op resources")
        entries = synthetic(settings, n, split)
        results.append(one_size(settings, project, noop, entries, lambda row: done([*results, row])))
        done(results)
        if split > 1:
            progress(f"catalog scale: the {n:,} split across {split} stacks, fkguard fleet up {parallel} at a time")
            results.append(bench_split.one_split(settings, project, entries, child_schemas(split), parallel,
                                                 folder / "split-logs", lambda row: done([*results, row])))
            done(results)
        for schema in dict.fromkeys([SCHEMA, *child_schemas(split)]):
            psql(settings, sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)).as_string())
    for path in schemas:
        progress(f"catalog scale: {path}, loaded into {database_of(path)}, its declared keys dropped and rows filled")
        real, entries = real_schema(path, progress)
        try:
            results.append(one_size(real, project, noop, entries, lambda row: done([*results, row]), path.name))
        finally:
            discover.drop_database(database_of(path))
        done(results)
    project.run("config", "set", "postgresql:database", database, "--stack", "local")
    return results
