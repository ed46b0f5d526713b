"""`make bench`: build the APMS data set at a chosen scale and measure, in one run, the writer's
stall during the rollout, the audit against VALIDATE, Pulumi's overhead, the plan's Phase 4 table
and load test, and the query plans; write a markdown report and a chart to results/."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from psycopg import sql

from bench import overhead, phase4, plans, report, stall, validation
from fkguard.apms.generate import generate, row_counts
from fkguard.catalog import load_catalog
from fkguard.settings import ConnectionSettings
from fkguard_testing.scratch import PROJECT, ScratchProject, local_env

DATABASE = "apms_bench"


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--scale", type=int, default=200_000, help="rows in the largest table (default 200000)")
    parser.add_argument("--out", type=Path, default=PROJECT / "results", help="where the report goes")
    parser.add_argument("--runs", type=int, default=3, help="runs per timing, of which the median is reported")
    args = parser.parse_args()
    values = local_env()
    port = int(values["FKGUARD_PG_PORT"])
    admin = ConnectionSettings("127.0.0.1", port, values["FKGUARD_PG_DB"], values["FKGUARD_PG_USER"],
                               values["FKGUARD_LOCAL_DB_PASSWORD"], "disable")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out / stamp
    out.mkdir(parents=True)
    progress(f"a database of its own ({DATABASE}) on the local cluster, {args.scale:,} rows in the largest table")
    owner = sql.Identifier(admin.username).as_string()
    for statement in (f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", f"CREATE DATABASE {DATABASE} OWNER {owner}"):
        # Creating a database takes the cluster's superuser, which scripts/pg.sh speaks for.
        subprocess.run([str(PROJECT / "scripts" / "pg.sh"), "psql", "-d", "postgres", "-c", statement],
                       check=True, capture_output=True, text=True)
    settings = dataclasses.replace(admin, database=DATABASE)
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
                              "rows": sum(counts.values()), "scale": args.scale, "generate_s": generated}}
    results["stall"] = stall.run(settings, catalog, project, instances, progress)
    progress("audit against VALIDATE")
    results["validation"] = validation.run(settings, catalog, project, args.runs)
    progress("pulumi overhead: no constraint, 16, 160 synthetic")
    results["overhead"] = overhead.run(settings, catalog, project, args.runs)
    progress("Phase 4: pgbench baseline, with the 16 validated, load test")
    results["phase4"] = phase4.run(settings, catalog, instances)
    progress("query plans")
    results["plans"] = plans.run(settings, catalog)

    text = report.markdown(results)
    (out / "report.md").write_text(text)
    report.chart(results, out / "chart.png")
    slim = {k: ({n: {x: y for x, y in r.items() if x not in ("samples", "windows")} for n, r in v.items()}
                if k == "stall" else v)
            for k, v in results.items()}
    (out / "results.json").write_text(json.dumps(slim, indent=2, default=str))
    print(text)
    shutil.rmtree(out / "scratch")  # the throwaway project copy; the report, chart and numbers stay
    progress(f"report: {out / 'report.md'}, chart: {out / 'chart.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
