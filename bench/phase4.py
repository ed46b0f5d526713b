"""Measure 4: the plan's Phase 4 table (each operation baseline vs with the 16 validated foreign
keys) and its load test, with pgbench (the PostgreSQL-native counterpart of the plan's k6)."""

from __future__ import annotations

import re
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench.stall import drop_all, psql, statements
from bench.stats import percentile
from fkguard import ddl
from fkguard.backup import libpq_env, pg_tool
from fkguard.catalog import ForeignKey
from fkguard.stack.settings import ConnectionSettings

SCRIPTS = {
    "Create workflow": """
INSERT INTO workflow_instances (id, workspace_id, config_version_id, site_id, atp_category, status,
                                current_stage_number, created_by)
SELECT gen_random_uuid()::text, ws.id, cv.id, 'BENCH-SITE', 'HARDWARE', 'IN_PROGRESS', 1, 'bench'
FROM workspaces ws JOIN config_versions cv ON cv.workspace_id = ws.id
WHERE ws.code = 'XLSMART-AVIAT' AND cv.status = 'ACTIVE' LIMIT 1;
""",
    "Create submission": """
\\set n random(1, :instances)
INSERT INTO atp_submissions (id, workflow_instance_id, submission_number, status, submitted_by)
VALUES (gen_random_uuid()::text, md5('wi:' || :n)::uuid::text, 2, 'SUBMITTED', 'bench');
""",
    "Bulk import (100)": """
\\set n random(1, :instances)
INSERT INTO workflow_stages (id, workflow_instance_id, stage_number, stage_name)
SELECT gen_random_uuid()::text, md5('wi:' || (1 + (:n + g) % :instances))::uuid::text, 50 + g, 'bulk'
FROM generate_series(1, 100) g;
""",
    "Query workflows": """
\\set w random(1, 20)
SELECT id, status FROM workflow_instances
WHERE workspace_id = md5('ws:' || :w)::uuid::text AND config_version_id = md5('cv:' || :w)::uuid::text LIMIT 50;
""",
}
LOAD = [("Create workflow", 10, 100), ("Create submission", 5, 50)]  # the plan's Step 4.3


def pgbench(settings: ConnectionSettings, script: str, instances: int, clients: int, transactions: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "script.sql"
        path.write_text(script)
        prefix = Path(folder) / "log"
        result = subprocess.run(
            [pg_tool("pgbench"), "-n", "-c", str(clients), "-j", str(min(clients, 2)), "-t", str(transactions),
             "-f", str(path), "-D", f"instances={instances}", "-l", f"--log-prefix={prefix}"],
            env=libpq_env(settings), capture_output=True, text=True, check=True)
        latencies = [int(line.split()[2]) / 1000 for log in Path(folder).glob("log.*")
                     for line in log.read_text().splitlines() if line.strip()]
    ordered = sorted(latencies)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", result.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", result.stdout)
    return {"n": len(ordered), "avg": statistics.fmean(ordered), "p50": percentile(ordered, 0.50),
            "p95": percentile(ordered, 0.95), "p99": percentile(ordered, 0.99), "tps": float(tps.group(1)) if tps else 0.0,
            "errors": int(failed.group(1)) if failed else 0}


def run(settings: ConnectionSettings, catalog: list[ForeignKey], instances: int) -> dict:
    drop_all(settings, catalog)
    baseline = {name: pgbench(settings, script, instances, 1, 200) for name, script in SCRIPTS.items()}
    psql(settings, statements(settings, catalog, naive=False))
    with settings.connect() as conn:
        psql(settings, "; ".join(ddl.validate(fk).as_string(conn) for fk in catalog))
    with_fks = {name: pgbench(settings, script, instances, 1, 200) for name, script in SCRIPTS.items()}
    load = {f"{name}: {clients} clients x {n}": pgbench(settings, SCRIPTS[name], instances, clients, n)
            for name, clients, n in LOAD}
    drop_all(settings, catalog)
    return {"baseline": baseline, "with_fks": with_fks, "load": load}


def verdict(overhead_ms: float) -> str:
    """The plan's thresholds: +5-10 ms acceptable, above +20 ms roll back."""
    if overhead_ms <= 10:
        return "yes"
    return "investigate" if overhead_ms <= 20 else "no: roll back"
