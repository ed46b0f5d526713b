"""`make chaos` works: two runs of the campaign (a fixed seed: pulumi SIGKILLed early in the add of a run that
then rolls back the medium tier, and PostgreSQL restarted in the middle of an add), each followed by the documented
recovery and every check of bench.chaos_checks, on the campaign's own cluster, which it removes."""

import json
import os
import re
import subprocess
import sys

from bench import chaos_setup
from fkguard_testing.fixtures import PROJECT


def test_two_faulted_rollouts_recover_and_converge(tmp_path):
    out = tmp_path / "report"
    result = subprocess.run([sys.executable, "-m", "bench.chaos", "--runs", "2", "--seed", "13", "--kinds",
                             "kill-pulumi,restart-postgres", "--scale", "2000", "--out", str(out)],
                            cwd=PROJECT, capture_output=True, text=True, timeout=900, env=os.environ)
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    runs = json.loads((out / "chaos.json").read_text())["runs"]
    assert [(r["plan"]["fault"]["kind"], r["plan"]["rollback_tier"]) for r in runs] == [
        ("kill-pulumi", "medium"), ("restart-postgres", None)]
    killed, restarted = runs
    assert killed["fired"].startswith("SIGKILL to pulumi") and restarted["fired"], runs
    # docs/recovery.md after a killed pulumi: (its language host ended,) cancel, refresh, the add again
    assert killed["recovery"][-3:] == ["cancel", "refresh", "up"], killed
    assert all(not r["problems"] for r in runs), runs
    assert re.search(r"^\| kill-pulumi \| 1 \| 1 \| 1 \| (kill\+)?cancel\+refresh\+up \(1\) \| \d+ ms \|$", result.stdout,
                     re.M), result.stdout
    assert "| **all** | 2 | 2 | 2 |" in result.stdout
    assert (out / "chaos.md").read_text().count("converged") >= 2
    assert chaos_setup.pg("status", check=False).returncode == 3  # the campaign's cluster went with it


def test_the_campaigns_cluster_has_a_port_no_test_fixture_uses():
    """make chaos beside make test: PgBouncer's fixture once found the campaign's cluster on its port, and took it
    for itself (its tests then ran against the campaign's database)."""
    from fkguard_testing import pgbouncer, replica, tls
    from fkguard_testing.fixtures import TEST_PG_PORT

    ports = [TEST_PG_PORT, tls.TLS_PORT, pgbouncer.PORT, replica.PORT, chaos_setup.PORT]
    assert len(set(ports)) == len(ports), ports
