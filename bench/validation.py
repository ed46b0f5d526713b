"""Measure 2: `fkguard audit` over the 16 relationships against VALIDATE CONSTRAINT of the same 16
on the same data, with the audit's peak memory."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time

from bench.stall import drop_all, psql, statements
from fkguard import ddl
from fkguard.catalog import ForeignKey
from fkguard.stack.settings import ConnectionSettings
from fkguard_testing.scratch import PROJECT, ScratchProject


def audit_run(project: ScratchProject) -> tuple[float, float, int]:
    """Whole-command seconds, seconds auditing (2 relationships at a time, largest first), and peak RSS in
    MiB of one `fkguard audit`."""
    started = time.monotonic()
    process = subprocess.Popen([str(PROJECT / ".venv" / "bin" / "fkguard"), "audit", "-s", "local", "--json",
                                "--sample", "5"], cwd=project.root, env=project.env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    output = process.stdout.read() if process.stdout else ""
    _, _, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    report = json.loads(output)
    return wall, report["seconds"], usage.ru_maxrss // 1024


def run(settings: ConnectionSettings, catalog: list[ForeignKey], project: ScratchProject, runs: int = 3) -> dict:
    """Each side's median of `runs`: one run can meet a checkpoint or a cold cache."""
    drop_all(settings, catalog)
    audits = [audit_run(project) for _ in range(runs)]
    validations = []
    for _ in range(runs):
        psql(settings, statements(settings, catalog, naive=False))
        with settings.connect() as conn:
            started = time.monotonic()
            for fk in catalog:
                conn.execute(ddl.validate(fk))
            validations.append(time.monotonic() - started)
        drop_all(settings, catalog)
    wall = statistics.median(a[0] for a in audits)
    in_db = statistics.median(a[1] for a in audits)
    validate = statistics.median(validations)
    return {"runs": runs, "audit_wall": wall, "audit_in_db": in_db, "audit_peak_rss_mib": max(a[2] for a in audits),
            "validate": validate, "audit_in_db_runs": [a[1] for a in audits], "validate_runs": validations,
            "ratio_in_db": in_db / validate if validate else 0.0, "ratio_wall": wall / validate if validate else 0.0}
