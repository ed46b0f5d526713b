"""bench/backends.py at a tiny size on the test cluster: both backends measured, the state database it made
removed, the report's table written. Only the shape is checked, never a time."""

import pytest

from bench import backends, report
from fkguard_testing import processes
from fkguard_testing.fixtures import TEST_PGDATA
from fkguard_testing.state_db import admin_connection

pytestmark = pytest.mark.e2e  # the real pulumi CLI, through project copies of its own


def test_file_and_postgres_backends_side_by_side(pg, tmp_path, monkeypatch):
    monkeypatch.setenv("FKGUARD_PGDATA", str(TEST_PGDATA))
    rows = backends.run(pg, tmp_path, pg.port, pg.database, [8], lambda _: None)
    for folder in tmp_path.iterdir():
        assert not processes.reap(folder)
    assert [(r["n"], r["backend"]) for r in rows] == [(8, "file"), (8, "postgres")]
    assert all(r["gated_up_add_s"] > 0 and r["gated_up_nochange_s"] > 0 and r["state_bytes"] > 1000 for r in rows)
    with admin_connection() as admin:  # the bench's state database and role are gone
        assert admin.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'pulumi_state_bench_%'").fetchone() == (0,)
        assert admin.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'pulumi_state_bench_%'").fetchone() == (0,)
    table = report.state_backends(rows)
    assert table[1] == "## 7. The state backend: file and PostgreSQL" and table[-1].startswith("| 8 | postgres | ")
