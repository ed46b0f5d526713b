"""The fleet's timings (numbers, never assertions): `fkguard fleet up` of 8 fresh databases in one wave,
1, 2 and 4 stacks at a time, on the test cluster. Run: . scripts/env.sh && python -m tests.fleet_timing"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from fkguard.stack.settings import ConnectionSettings
from fkguard_testing.fixtures import TEST_PG_PORT, pg_script
from fkguard_testing.scratch import ScratchProject, local_env
from tests import fleet_shapes as fleet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    pg_script("start")
    values = local_env()
    admin = ConnectionSettings("127.0.0.1", TEST_PG_PORT, values["FKGUARD_PG_DB"], values["FKGUARD_PG_USER"],
                               values["FKGUARD_LOCAL_DB_PASSWORD"], "disable")
    rows = []
    with tempfile.TemporaryDirectory(prefix="fkguard-fleet-timing-") as folder:
        project = ScratchProject.create(Path(folder), TEST_PG_PORT)
        (project.root / "fleet.yaml").write_text('waves:\n  - name: all\n    stacks: ["test-fleet-*"]\n')
        for parallel in args.parallel:
            fleet.create_databases(admin, args.count, {})
            stacks = fleet.add_stacks(project, args.count)
            try:
                started = time.monotonic()
                run = project.fkguard("fleet", "up", "-f", "fleet.yaml", "--parallel", str(parallel), "--json",
                                      "--log-dir", str(Path(folder) / f"logs-{parallel}"))
                wall = time.monotonic() - started
                summary = json.loads(run.stdout)
                per_stack = sorted(s["seconds"] for s in summary["stacks"])
                assert all(s["result"] == "ok" for s in summary["stacks"]), run.stdout
                rows.append((parallel, wall, summary["checked_seconds"], per_stack[len(per_stack) // 2], per_stack[-1],
                             os.getloadavg()[0]))
                print(f"parallel {parallel}: {wall:.1f} s wall, stacks {per_stack}", flush=True)
            finally:
                fleet.remove_stacks(project, stacks)
                fleet.drop_databases(args.count)
    pg_script("stop")
    print("\n| stacks at a time | fkguard fleet up, wall | of it checking | median stack | slowest stack | load (1 min) |")
    print("|---|---|---|---|---|---|")
    for parallel, wall, checked, median, slowest, load in rows:
        print(f"| {parallel} | {wall:.1f} s | {checked:.1f} s | {median:.1f} s | {slowest:.1f} s | {load:.1f} |")


if __name__ == "__main__":
    main()
