"""`make bench`: build the APMS data set at a chosen scale and measure, in one run, the writer's
stall during the rollout, the audit against VALIDATE, Pulumi's overhead, the plan's Phase 4 table
and load test, and the query plans; write a markdown report and a chart to results/."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from psycopg import sql

from bench import backends, overhead, parent, phase4, plans, report, scale, stall, validation
from fkguard.apms.generate import generate, row_counts
from fkguard.catalog import load_catalog
from fkguard.stack.settings import ConnectionSettings
from fkguard_testing.scratch import PROJECT, ScratchProject, local_env

DATABASE = "apms_bench"


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _durable(admin: ConnectionSettings, restart: bool) -> str:
    """Latencies measured with fsync off are unlike any production server's: restart a cluster that
    runs without it (one the test fixtures or an older fkguard started) durable, and say so."""
    def settings_now() -> dict[str, str]:
        with admin.connect() as conn:
            return {name: conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0]
                    for name in ("fsync", "synchronous_commit")}

    now = settings_now()
    if restart and now != {"fsync": "on", "synchronous_commit": "on"}:
        progress(f"the local cluster runs with {now}: restarting it durable (fsync and synchronous_commit on)")
        pg = str(PROJECT / "scripts" / "pg.sh")
        for step in ("stop", "start"):
            subprocess.run([pg, step], check=True, capture_output=True, text=True,
                           env={**os.environ, "FKGUARD_PG_FSYNC": "on"})
        now = settings_now()
    return ", ".join(f"{k}={v}" for k, v in now.items())


def _superuser_psql(statement: str) -> None:
    # Creating a database takes the cluster's superuser, which scripts/pg.sh speaks for.
    subprocess.run([str(PROJECT / "scripts" / "pg.sh"), "psql", "-d", "postgres", "-c", statement],
                   check=True, capture_output=True, text=True)


def _drop_database(name: str) -> None:
    _superuser_psql(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)).as_string())


def _fresh_database(admin: ConnectionSettings, name: str) -> ConnectionSettings:
    _drop_database(name)
    _superuser_psql(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name),
                                                                 sql.Identifier(admin.username)).as_string())
    return dataclasses.replace(admin, database=name)


def _scale_so_far(out: Path, meta: dict, sizes: list[dict]) -> None:
    """Section 6 as far as it got (scale.md, scale.json), rewritten after each size: a long run cut short
    keeps the sizes it finished."""
    (out / "scale.json").write_text(json.dumps({"meta": meta, "scale": sizes}, indent=2, default=str))
    (out / "scale.md").write_text("\n".join([f"# fkguard catalog scale, {meta['when']}", "",
                                              f"Machine: {meta['machine']}. Durability: {meta['durability']}. "
                                              f"Per-step checkpoints: {report.checkpoints()}.",
                                              *report.catalog_scale(sizes)]) + "\n")
    report.scale_chart(sizes, out / "scale.png")
    progress(f"catalog scale so far: {out / 'scale.md'}")


def _only_scale(admin: ConnectionSettings, out: Path, port: int, sizes: list[int], meta: dict,
                schemas: list[Path], split: tuple[int, int] = (0, 2)) -> int:
    """`--only-scale`: section 6 alone, in a database of its own with nothing else in it."""
    settings = _fresh_database(admin, DATABASE)
    project = ScratchProject.create(out / "scratch", port, DATABASE)
    scale.run(settings, project, out / "scratch", port, DATABASE, sizes, progress,
              lambda done: _scale_so_far(out, meta, done), schemas, *split)
    print((out / "scale.md").read_text())
    shutil.rmtree(out / "scratch")
    _drop_database(DATABASE)
    return 0


def _only_stall(admin: ConnectionSettings, out: Path, port: int, rows: int, meta: dict) -> int:
    """`--only-stall`: section 1 alone (the writer's stall, with its no-op control), in a database of its own
    (apms_bench_stall), so that it can run beside a long `--only-scale` run."""
    name = f"{DATABASE}_stall"
    settings = _fresh_database(admin, name)
    with settings.connect() as conn:
        counts = generate(conn, rows, {}, progress=progress)
        conn.execute("VACUUM (ANALYZE)")
        meta = {**meta, "postgres": conn.execute("SHOW server_version").fetchone()[0], "rows": sum(counts.values())}
    project = ScratchProject.create(out / "scratch", port, name)
    results = stall.run(settings, load_catalog(), project, row_counts(rows)["workflow_instances"], progress)
    (out / "stall.json").write_text(json.dumps({"meta": meta, "stall": {n: {x: y for x, y in r.items() if x not in (
        "samples", "windows")} for n, r in results.items()}}, indent=2, default=str))
    text = "\n".join([f"# fkguard writer's stall, {meta['when']}", "",
                      f"Machine: {meta['machine']}. PostgreSQL {meta['postgres']}. {meta['rows']:,} rows ({rows:,} in the "
                      f"largest table). Durability: {meta['durability']}.", "", *report.stall_section(results)]) + "\n"
    (out / "stall.md").write_text(text)
    print(text)
    shutil.rmtree(out / "scratch")
    _drop_database(name)
    return 0


def _arguments() -> tuple[argparse.Namespace, list[int], list[Path]]:
    """The command line, with the synthetic sizes and the schema files (each an existing file) read from it."""
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--scale", type=int, default=200_000, help="rows in the largest table (default 200000)")
    parser.add_argument("--out", type=Path, default=PROJECT / "results", help="where the report goes")
    parser.add_argument("--runs", type=int, default=3, help="runs per timing, of which the median is reported")
    parser.add_argument("--parent-scale", type=int, default=10_000_000,
                        help="the parent-side measure again at this many rows, in a database of its own (0: not)")
    parser.add_argument("--scale-sizes", default="160",
                        help="synthetic catalog sizes for the gate's cost, comma-separated (default 160)")
    parser.add_argument("--scale-schema", action="append", default=[],
                        help="a schema file (outside the project: Lago's db/structure.sql, say) whose declared foreign "
                             "keys section 6 measures beside the synthetic sizes; repeat it, or separate paths with commas")
    parser.add_argument("--scale-split", type=int, default=0,
                        help="after each synthetic size, the same catalog split by schema across this many stacks of "
                             "the one database, run by fkguard fleet up (0: not)")
    parser.add_argument("--scale-parallel", type=int, default=2,
                        help="stacks at a time for --scale-split (default 2: this machine's cores)")
    parser.add_argument("--backend-sizes", default="16,160",
                        help="constraints per gated up, file backend beside the postgres one (default 16,160; none: skip)")
    parser.add_argument("--only-scale", action="store_true",
                        help="only section 6, the catalog's scale (no APMS data set, no other section)")
    parser.add_argument("--only-stall", action="store_true",
                        help="only section 1, the writer's stall and its no-op control, at --scale rows")
    parser.add_argument("--keep-cluster-settings", action="store_true",
                        help="measure on the cluster as it runs, durable or not (the tests' shape check)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.scale_sizes.split(",") if n.strip()]
    schemas = [Path(p.strip()).resolve() for arg in args.scale_schema for p in arg.split(",") if p.strip()]
    if missing := [str(p) for p in schemas if not p.is_file()]:
        parser.error(f"--scale-schema: no such file: {', '.join(missing)}")
    return args, sizes, schemas


def _write_report(results: dict, out: Path) -> None:
    """The report, charts and numbers of a full run; the throwaway project copy removed."""
    text = report.markdown(results)
    (out / "report.md").write_text(text)
    report.chart(results, out / "chart.png")
    report.scale_chart(results["scale"], out / "scale.png")
    slim = {k: ({n: {x: y for x, y in r.items() if x not in ("samples", "windows")} for n, r in v.items()}
                if k == "stall" else v)
            for k, v in results.items()}
    (out / "results.json").write_text(json.dumps(slim, indent=2, default=str))
    print(text)
    shutil.rmtree(out / "scratch")  # the throwaway project copy; the report, chart and numbers stay
    progress(f"report: {out / 'report.md'}, chart: {out / 'chart.png'}")


def main() -> int:
    args, sizes, schemas = _arguments()
    values = local_env()
    port = int(values["FKGUARD_PG_PORT"])
    admin = ConnectionSettings("127.0.0.1", port, values["FKGUARD_PG_DB"], values["FKGUARD_PG_USER"],
                               values["FKGUARD_LOCAL_DB_PASSWORD"], "disable")
    durability = _durable(admin, restart=not args.keep_cluster_settings)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out / stamp
    out.mkdir(parents=True)
    if args.only_scale:
        return _only_scale(admin, out, port, sizes, {"when": stamp, "machine": report.machine(), "durability": durability},
                           schemas, (args.scale_split, args.scale_parallel))
    if args.only_stall:
        return _only_stall(admin, out, port, args.scale, {"when": stamp, "machine": report.machine(),
                                                          "durability": durability})
    progress(f"a database of its own ({DATABASE}) on the local cluster, {args.scale:,} rows in the largest table")
    settings = _fresh_database(admin, DATABASE)
    catalog = load_catalog()
    started = time.monotonic()
    with settings.connect() as conn:
        counts = generate(conn, args.scale, {}, progress=progress)
        server = conn.execute("SHOW server_version").fetchone()[0]
    generated = time.monotonic() - started
    progress("VACUUM (ANALYZE): settled data, as a production table is, and no autovacuum racing the measures")
    with settings.connect() as conn:
        conn.execute("VACUUM (ANALYZE)")
    instances = row_counts(args.scale)["workflow_instances"]
    project = ScratchProject.create(out / "scratch", port, DATABASE)

    results: dict = {"meta": {"when": stamp, "machine": report.machine(), "postgres": server,
                              "rows": sum(counts.values()), "scale": args.scale, "generate_s": generated,
                              "durability": durability}}
    results["stall"] = stall.run(settings, catalog, project, instances, progress)
    progress("audit against VALIDATE")
    results["validation"] = validation.run(settings, catalog, project, args.runs)
    progress("pulumi overhead: no constraint, 16, 160 synthetic")
    results["overhead"] = overhead.run(settings, catalog, project, args.runs)
    results["scale"] = scale.run(settings, project, out / "scratch", port, DATABASE, sizes, progress,
                                 lambda done: _scale_so_far(out, results["meta"], done), schemas, args.scale_split,
                                 args.scale_parallel)
    backend_sizes = [int(n) for n in args.backend_sizes.split(",") if n.strip().isdigit()]
    results["backends"] = backends.run(settings, out / "scratch", port, DATABASE, backend_sizes, progress)
    progress("Phase 4: pgbench baseline, with the 16 validated, load test")
    results["phase4"] = phase4.run(settings, catalog, instances)
    progress("query plans")
    results["plans"] = plans.run(settings, catalog)
    progress("the parent side: deletes and key updates of referenced rows, three ways")
    results["parent"] = [parent.run(settings, catalog, progress)]
    if args.parent_scale > args.scale:
        progress(f"the parent side again at {args.parent_scale:,} rows, in {DATABASE}_big")
        big = _fresh_database(admin, f"{DATABASE}_big")
        with big.connect() as conn:
            generate(conn, args.parent_scale, {}, progress=progress)
            conn.execute("VACUUM (ANALYZE)")
        results["parent"].append(parent.run(big, catalog, progress))
        _drop_database(f"{DATABASE}_big")

    _write_report(results, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
