"""`make bench` end to end at a tiny scale, on the test cluster: it must keep running from a fresh
clone and write its report, chart and numbers. Only the shape is checked here, never a time: the
numbers themselves belong to the benchmark's table."""

import json
import os
import subprocess
import sys

import pytest

from fkguard_testing.fixtures import TEST_PG_PORT, TEST_PGDATA
from fkguard_testing.scratch import PROJECT

pytestmark = pytest.mark.e2e  # the bench drives the real pulumi CLI through a project copy of its own

SECTIONS = ["## 1. The writer's stall", "## 2. The audit against PostgreSQL's own validation",
            "## 3. Pulumi's overhead", "## 4. The plan's Phase 4 table", "Parent side at 400 rows", "## 5. Query plans",
            "## 6. The catalog's scale"]


def test_bench_writes_report_chart_and_numbers(pg, tmp_path):
    env = {**os.environ, "FKGUARD_PG_PORT": str(TEST_PG_PORT), "FKGUARD_PGDATA": str(TEST_PGDATA),
           "PATH": f"{PROJECT / '.tools' / 'bin'}:{PROJECT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    result = subprocess.run([sys.executable, "-m", "bench", "--scale", "400", "--runs", "1", "--out", str(tmp_path),
                             "--parent-scale", "0", "--keep-cluster-settings", "--scale-sizes", "8",
                             "--backend-sizes", "none"],  # measured apart: tests/test_bench_backends.py
                            cwd=PROJECT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = list(tmp_path.iterdir())
    report = (run / "report.md").read_text()
    assert [s for s in SECTIONS if s not in report] == []
    assert (run / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run / "scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the catalog-scale curve
    assert not (run / "scratch").exists()  # the throwaway project copy is removed
    numbers = json.loads((run / "results.json").read_text())
    assert numbers["meta"]["scale"] == 400
    stall = numbers["stall"]["fkguard (pulumi up)"]
    assert stall["n"] > 0 and stall["lock_windows"] >= 16  # the provider traced every ALTER it ran
    control = numbers["stall"]["control: no-op pulumi up (no SQL)"]  # the outlier's control: no SQL, no lock
    assert control["n"] > 0 and control["lock_windows"] == 0 and control["checkpoints"] >= 0
    assert len(stall["slowest_outside"]) == 3 and "slowest writes outside lock windows" in report
    assert len(numbers["plans"]) == 16 and set(numbers["phase4"]["load"]) and numbers["overhead"]["160"] > 0
    assert numbers["validation"]["audit_peak_rss_mib"] > 0
    assert numbers["meta"]["durability"] == "fsync=off, synchronous_commit=off"  # the test cluster, kept as found
    (side,) = numbers["parent"]
    assert len(side["ops"]) == 4 and all(r[k]["n"] >= 5 for r in side["ops"].values()
                                         for k in ("baseline", "fks_no_index", "fks_with_index"))
    assert side["indexes_built"]  # the APMS schema lacks most supporting indexes
    (size,) = numbers["scale"]
    assert size["n"] == 8 and size["noop_up_s"] > 0 and size["state_bytes"] > 0
    assert size["keyshaped_preview_pack_s"] > 0 and size["keyshaped_preview_s"] > 0  # the yardstick pack ran
    assert "no-op pack / plain" in report
    assert 0 < size["gated_preview_sessions"] <= 10  # bounded, whatever the catalog's size
    assert size["gated_up_add_s_mem"]["engine"] > 0 and size["gated_up_add_s_mem"]["program"] > 0


# A schema of this test's own (never a public one): two declared keys, ON DELETE CASCADE and RESTRICT, both
# already indexed (the second by its table's primary key, which leads with the key's column).
TINY_SCHEMA = """
CREATE SCHEMA shop;
CREATE TABLE shop.customers (id bigserial PRIMARY KEY, email text NOT NULL);
CREATE TABLE shop.orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL
  REFERENCES shop.customers (id) ON DELETE CASCADE, placed_at timestamp);
CREATE INDEX ON shop.orders (customer_id);
CREATE TABLE shop.order_lines (order_id bigint NOT NULL, line int NOT NULL, sku text, PRIMARY KEY (order_id, line),
  CONSTRAINT order_lines_order_fk FOREIGN KEY (order_id) REFERENCES shop.orders (id) ON DELETE RESTRICT);
"""


def test_only_scale_writes_each_measure_as_it_is_taken(pg, tmp_path):
    """`--only-scale`: section 6 alone, its rows written after each measure (a 1,000-constraint size takes
    more than an hour, and a run cut short keeps what it measured); the no-op yardstick's provider is pickled by
    reference, so its resources carry no copy of the program. --scale-schema: a schema file's declared keys, as
    declared, are a row of their own, measured the same way, and its database is gone afterwards."""
    schema = tmp_path / "schemas" / "tiny.sql"
    schema.parent.mkdir()
    schema.write_text(TINY_SCHEMA)
    env = {**os.environ, "FKGUARD_PG_PORT": str(TEST_PG_PORT), "FKGUARD_PGDATA": str(TEST_PGDATA),
           "PATH": f"{PROJECT / '.tools' / 'bin'}:{PROJECT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    result = subprocess.run([sys.executable, "-m", "bench", "--only-scale", "--scale-sizes", "3,5", "--out",
                             str(tmp_path / "out"), "--keep-cluster-settings", "--scale-schema", str(schema)],
                            cwd=PROJECT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = list((tmp_path / "out").iterdir())
    assert sorted(p.name for p in run.iterdir()) == ["scale.json", "scale.md", "scale.png"]
    assert result.stderr.count("catalog scale so far") >= 3 * 5  # after each of a size's measures
    sizes = json.loads((run / "scale.json").read_text())["scale"]
    assert [s["n"] for s in sizes] == [3, 5, 2] and all(s["noop_up_s"] > 0 for s in sizes)
    real = sizes[2]
    assert real["schema"] == "tiny.sql" and real["catalog_loads"] == 2
    assert real["on_delete"] == {"CASCADE": 1, "RESTRICT": 1}  # the declared actions, not a default
    for s in sizes:
        assert s["resources"] > s["n"] and 0 < s["gated_preview_create_sessions"] <= 10
        for measure in ("gated_up_add_s_mem", "gated_up_nochange_s_mem", "gated_up_nochange_skip_preview_s_mem",
                        "plain_up_nochange_s_mem"):
            assert s[measure]["engine"] > 0 and s[measure]["program"] > 0, (measure, s[measure])
        assert s["gated_up_add_s_mem"]["pack"] > 0 and s["plain_up_nochange_s_mem"]["pack"] == 0  # no pack ungated
    text = (run / "scale.md").read_text()
    assert "| 5 synthetic |" in text and "| tiny.sql: 2 |" in text
    assert "Per-step checkpoints: skipped (PULUMI_SKIP_CHECKPOINTS=true" in text  # scripts/env.sh's, as users run
    with pg.connect() as conn:  # the schema's database is dropped once measured
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = 'bench_scale_tiny'").fetchone()[0] == 0


def test_scale_split_measures_the_same_catalog_across_stacks_run_by_the_fleet(pg, tmp_path):
    """--scale-split: after a size's one-stack row, the same catalog split by schema across K stacks of the one
    database, run by `fkguard fleet up`: the add and the no-change up, and each role's peak memory, the fleet's
    engines included (they run below fkguard, not below the bench). The split's stacks are gone afterwards."""
    env = {**os.environ, "FKGUARD_PG_PORT": str(TEST_PG_PORT), "FKGUARD_PGDATA": str(TEST_PGDATA),
           "PATH": f"{PROJECT / '.tools' / 'bin'}:{PROJECT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    result = subprocess.run([sys.executable, "-m", "bench", "--only-scale", "--scale-sizes", "4", "--scale-split", "2",
                             "--out", str(tmp_path / "out"), "--keep-cluster-settings"],
                            cwd=PROJECT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = list((tmp_path / "out").iterdir())
    one, split = json.loads((run / "scale.json").read_text())["scale"]
    assert (one["n"], one.get("split"), split["n"], split["split"], split["parallel"]) == (4, None, 4, 2, 2)
    assert (split["gated_up_add_s_added"], split["gated_up_nochange_s_added"]) == (4, 0)
    for measure in ("gated_up_add_s_mem", "gated_up_nochange_s_mem"):
        assert all(split[measure][role] > 0 for role in ("engine", "program", "pack")), split[measure]
    assert "| 4 synthetic, split into 2 stacks by schema (fkguard fleet, 2 at a time) | 4 |" in (run / "scale.md").read_text()
    with pg.connect() as conn:  # the split's schemas are dropped once measured
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'bench_scale%'").fetchone()[0] == 0
