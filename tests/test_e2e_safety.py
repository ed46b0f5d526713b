"""Production safety through the real CLI and a real PostgreSQL: lock contention (measured from a
concurrent session), a pulumi process killed mid-rollout and mid-validation, a failed validation,
a backup restored into a fresh database, and two `pulumi up` at once."""

import contextlib
import json
import os
import signal
import statistics
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from fkguard import backup
from fkguard.apms.generate import generate
from fkguard.catalog import load_catalog
from fkguard.resource_properties import RESOURCE_TYPE as TYPE  # the one constant (tests/test_resource_type.py)
from fkguard_testing.fixtures import PROJECT, as_superuser, pulumi_bin

CATALOG = load_catalog()
LOCK_TIMEOUT_MS = 300


def fks(conn) -> dict[str, bool]:
    return dict(conn.execute("SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f' "
                             "AND connamespace = 'public'::regnamespace"))


class Blocker(threading.Thread):
    """An application transaction holding a lock until released."""

    def __init__(self, pg, statement: str):
        super().__init__(daemon=True)
        self.pg, self.statement = pg, statement
        self.holding, self.release = threading.Event(), threading.Event()

    def run(self):
        with self.pg.connect(autocommit=False, application_name="app-blocker") as conn:
            conn.execute(self.statement)
            self.holding.set()
            self.release.wait(120)
            conn.rollback()

    def __enter__(self):
        self.start()
        assert self.holding.wait(10)
        return self

    def __exit__(self, *_):
        self.release.set()
        self.join(10)


class Prober(threading.Thread):
    """Another session's queries on the table, every 50 ms, each one timed."""

    def __init__(self, pg, statement: str):
        super().__init__(daemon=True)
        self.pg, self.statement = pg, statement
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def run(self):
        with self.pg.connect(application_name="app-prober") as conn:
            while not self.stop.is_set():
                started = time.monotonic()
                conn.execute(self.statement)
                self.latencies.append((time.monotonic() - started) * 1000)
                time.sleep(0.05)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        self.join(10)


@pytest.fixture()
def tight(project, conn):
    """APMS data, the critical tier only, a short lock_timeout."""
    generate(conn, 1000, {}, progress=lambda _: None)
    # Both critical keys then adopt an index (workspace_id has one) instead of building one CONCURRENTLY, which
    # would wait for the blockers below before any ALTER TABLE: these tests are about the ALTER's locks.
    conn.execute("CREATE INDEX workflow_instances_config_version_id_idx ON workflow_instances (config_version_id)")
    for key, value in (("fkguard:addTiers", "critical"), ("fkguard:lockTimeout", f"{LOCK_TIMEOUT_MS}ms"),
                       ("fkguard:lockRetryBudget", "30s")):
        project.run("config", "set", key, value, "--stack", "local")
    return project


def up(project, *extra, check=True):
    return project.run("up", "--stack", "local", "--yes", "--skip-plugin-pre-install", *extra, check=check)


@pytest.mark.parametrize("held_by", [
    "UPDATE workflow_instances SET updated_at = now() WHERE id = (SELECT min(id) FROM workflow_instances)",
    "UPDATE workspaces SET name = name WHERE id = (SELECT min(id) FROM workspaces)",
])
def test_add_behind_a_writer_never_stalls_others_beyond_lock_timeout(tight, conn, pg, held_by):
    write = "UPDATE workflow_instances SET updated_at = now() WHERE id = (SELECT max(id) FROM workflow_instances)"
    with Prober(pg, write) as prober, Blocker(pg, held_by) as blocker:
        rollout = start_killable(tight, "up", "--stack", "local", "--yes", "--skip-plugin-pre-install")
        wait_for_fkguard_waiting(conn)
        time.sleep(3)  # several lock_timeout attempts while the application's transaction goes on
        blocker.release.set()
        output, _ = rollout.communicate(timeout=120)
    assert rollout.returncode == 0, output
    assert "+ 4 created" in output  # the stack, the monitoring baseline, 2 constraints (their indexes are the schema's)
    assert set(fks(conn)) == {fk.name for fk in CATALOG if fk.tier == "critical"}
    # While the ALTER waited for its lock, the other writer queued behind it: never longer than one attempt.
    assert len(prober.latencies) > 20
    assert max(prober.latencies) < LOCK_TIMEOUT_MS + 700, sorted(prober.latencies)[-5:]
    assert statistics.median(prober.latencies) < 50


def test_a_blocker_that_never_ends_fails_cleanly_and_names_it(tight, conn, pg):
    tight.run("config", "set", "fkguard:lockRetryBudget", "2s", "--stack", "local")
    with Blocker(pg, "UPDATE workspaces SET name = name WHERE id = (SELECT min(id) FROM workspaces)"):
        result = up(tight, check=False)
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert "gave up after" in text and f"each waiting at most {LOCK_TIMEOUT_MS}ms for a lock on" in text
    assert "(app-blocker, idle in transaction, transaction since" in text
    assert "End that transaction (or raise fkguard:lockRetryBudget) and run pulumi up again" in text
    assert "Traceback" not in text
    # The blocked constraint is not there; the other one, which needs no lock on workspaces, went in.
    assert fks(conn) == {"fk_workflow_instances_config_version": False}
    status = {r["constraint"]: r for r in json.loads(tight.fkguard("status", "-s", "local", "--json").stdout)}
    assert [status[n]["stack"] for n in ("fk_workflow_instances_workspace", "fk_workflow_instances_config_version")
            ] == ["absent", "not valid"]


def test_drop_behind_a_long_reader_never_stalls_readers_beyond_lock_timeout(tight, conn, pg):
    up(tight)
    target = f"urn:pulumi:local::fkguard::{TYPE}::fk_workflow_instances_workspace"
    with Prober(pg, "SELECT count(*) FROM workflow_instances") as prober, \
            Blocker(pg, "SELECT count(*) FROM workflow_instances") as reader:
        rollback = start_killable(tight, "destroy", "--stack", "local", "--yes", "--skip-plugin-pre-install",
                                  "--target", target)
        wait_for_fkguard_waiting(conn)
        time.sleep(3)
        reader.release.set()
        output, _ = rollback.communicate(timeout=120)
    assert rollback.returncode == 0, output
    assert set(fks(conn)) == {"fk_workflow_instances_config_version"}
    assert max(prober.latencies) < LOCK_TIMEOUT_MS + 700, sorted(prober.latencies)[-5:]


def start_killable(project, *args) -> subprocess.Popen:
    return subprocess.Popen([str(pulumi_bin()), *args, "--non-interactive"], cwd=project.root, env=project.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def descendants(pid: int) -> list[int]:
    """Every process below pid (pulumi starts its language host and providers in groups of their own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rindex(")") + 2:].split()[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_everything(process: subprocess.Popen) -> None:
    """SIGKILL pulumi as a crash would, and everything it started, so no process outlives the test."""
    tree = descendants(process.pid)
    os.killpg(process.pid, signal.SIGKILL)
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(30)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() and "(Z)" not in _state(pid) for pid in tree):
        assert time.monotonic() < deadline, "a process pulumi started outlived the kill"
        time.sleep(0.1)


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "(Z)"
    return f"({stat[stat.rindex(')') + 2]})"


def wait_for_fkguard_waiting(conn, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        # Each attempt is one message, `SELECT set_config(…); ALTER TABLE …`, so the ALTER is inside it.
        if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fkguard' "
                        "AND pid <> pg_backend_pid() AND query LIKE '%%ALTER TABLE%%'").fetchone()[0]:
            return
        time.sleep(0.1)
    raise AssertionError("fkguard never reached its ALTER TABLE")


RECOVERY = [("cancel", "--yes"), ("refresh", "--yes", "--clear-pending-creates", "--skip-plugin-pre-install")]


@pytest.mark.parametrize("phase", ["add", "validate"])
def test_killed_mid_rollout_recovers_as_documented_and_converges(tight, conn, pg, phase):
    tight.run("config", "set", "fkguard:addTiers", "all", "--stack", "local")
    if phase == "validate":
        up(tight)
        tight.run("config", "set", "fkguard:validateTiers", "all", "--stack", "local")
    # An application lock holds the first ALTER in its retries; then the pulumi process is killed.
    lock = "LOCK TABLE workflow_instances IN SHARE MODE"
    with Blocker(pg, lock):
        process = start_killable(tight, "up", "--stack", "local", "--yes", "--skip-plugin-pre-install")
        wait_for_fkguard_waiting(conn)
        kill_everything(process)
    locked = up(tight, check=False)
    assert locked.returncode != 0 and "locked" in (locked.stdout + locked.stderr)

    for step in RECOVERY:  # docs/recovery.md, verbatim
        tight.run(*step, "--stack", "local")
    up(tight)
    expected_validated = phase == "validate"
    assert fks(conn) == {fk.name: expected_validated for fk in CATALOG}
    exported = json.loads(tight.run("stack", "export", "--stack", "local").stdout)
    names = [r["outputs"]["constraintName"] for r in exported["deployment"]["resources"] if r["type"] == TYPE]
    assert sorted(names) == sorted(fk.name for fk in CATALOG)  # none missing, none doubled
    assert not exported["deployment"].get("pending_operations")


def test_failed_validation_keeps_the_constraint_not_valid_and_enforced(tight, conn):
    up(tight)
    as_superuser("SET session_replication_role = replica; INSERT INTO workflow_instances (id, workspace_id, "
                 "config_version_id, site_id, atp_category, created_by) SELECT 'slipped-' || g, "
                 "'ghost-workspace-' || g, (SELECT min(id) FROM config_versions), 'S', 'HARDWARE', 'bulk-load' "
                 "FROM generate_series(1, 3) g")
    tight.run("config", "set", "fkguard:validateTiers", "critical", "--stack", "local")
    failed = up(tight, check=False)
    text = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert ("VALIDATE CONSTRAINT fk_workflow_instances_workspace failed: 3 rows of public.workflow_instances have "
            "no parent in public.workspaces (e.g. workspace_id='ghost-workspace-") in text
    assert "The constraint stays NOT VALID and still checks new writes" in text
    assert fks(conn)["fk_workflow_instances_workspace"] is False
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("UPDATE workflow_instances SET workspace_id = 'ghost' WHERE id = (SELECT max(id) FROM "
                     "workflow_instances WHERE id NOT LIKE 'slipped-%')")
    status = json.loads(tight.fkguard("status", "-s", "local", "--json").stdout)
    recorded = {r["constraint"]: r["stack"] for r in status}
    assert recorded["fk_workflow_instances_workspace"] == "not valid"

    tight.fkguard("remediate", "-s", "local", "--constraint", "fk_workflow_instances_workspace",
                  "--action", "delete", "--yes")
    up(tight)
    assert fks(conn)["fk_workflow_instances_workspace"] is True


def test_backup_before_the_first_change_restores_into_a_fresh_database(tight, conn, pg, tmp_path):
    tight.run("config", "set", "fkguard:backup", "true", "--stack", "local")
    tight.run("config", "set", "fkguard:backupDir", str(tmp_path / "dumps"), "--stack", "local")
    up(tight)
    outputs = json.loads(tight.run("stack", "output", "--json", "--stack", "local").stdout)
    path, rows = outputs["backup"]["path"], outputs["backup"]["rows"]
    assert path.startswith(str(tmp_path / "dumps")) and os.path.getsize(path) > 0
    assert set(rows) == {"public.workflow_instances", "public.config_versions", "public.workspaces"}

    as_superuser("DROP DATABASE IF EXISTS fkguard_restore")
    as_superuser(f"CREATE DATABASE fkguard_restore OWNER {pg.username}")
    env = {**os.environ, "PGPASSWORD": pg.password or ""}
    # The pg_restore beside the pg_dump the backup chose: an older one cannot read a newer dump.
    pg_restore = backup.client_bin(backup.server_major(pg)) / "pg_restore"
    restore = subprocess.run([str(pg_restore), "--no-owner", "-h", pg.host, "-p", str(pg.port),
                              "-U", pg.username, "-d", "fkguard_restore", path], env=env, capture_output=True, text=True)
    if restore.returncode != 0:
        # pg_restore 17+ sets transaction_timeout, which servers before 17 do not know: that one error is
        # harmless (the rows below are the proof), and the only one allowed.
        errors = [line for line in restore.stderr.splitlines() if line.startswith("pg_restore: error:")]
        assert backup.server_major(pg) < 17 and errors == [
            'pg_restore: error: could not execute query: ERROR:  unrecognized configuration parameter '
            '"transaction_timeout"'], restore.stderr
    with psycopg.connect(host=pg.host, port=pg.port, dbname="fkguard_restore", user=pg.username,
                         password=pg.password) as restored:
        for table, count in rows.items():
            assert restored.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == count  # noqa: S608
    as_superuser("DROP DATABASE fkguard_restore")
    up(tight)  # the next deployment takes no second dump
    assert len(os.listdir(tmp_path / "dumps")) == 1


def test_a_pg_dump_older_than_the_server_is_refused_at_preview_before_any_change(tight, conn, pg, tmp_path):
    server = backup.server_major(pg)
    # Stands in for a pg_dump one major behind the server (there is no real one older than 15 here);
    # it can only name its version: were it ever asked to dump, the up would fail another way.
    old = tmp_path / "pg_dump"
    old.write_text(f"#!/bin/sh\n[ \"$1\" = --version ] && echo 'pg_dump (PostgreSQL) {server - 1}.9' && exit 0\nexit 9\n")
    old.chmod(0o755)
    tight.run("config", "set", "fkguard:backup", "true", "--stack", "local")
    tight.run("config", "set", "fkguard:backupDir", str(tmp_path / "dumps"), "--stack", "local")
    before = fks(conn)
    wanted = (f"pg_dump {server - 1} ({old}) cannot dump the server's PostgreSQL {server} (pg_dump refuses newer "
              f"servers): run make bootstrap (it installs pg_dump 18), or set FKGUARD_PG_DUMP to a pg_dump {server} "
              f"or newer, or set fkguard:backup false for this stack")
    for command in (["preview"], ["up", "--yes"]):
        result = tight.run(*command, "--stack", "local", "--skip-plugin-pre-install", check=False,
                           env={"FKGUARD_PG_DUMP": str(old)})
        assert result.returncode != 0 and wanted in result.stdout + result.stderr, command
    assert fks(conn) == before and not (tmp_path / "dumps").exists()


def test_the_bootstraps_pg_dump_serves_every_version_and_debians_15_up_to_15():
    assert backup.client_bin(14) == backup.client_bin(15) == Path("/usr/lib/postgresql/15/bin")
    for server in (16, 17, 18):
        assert backup.client_bin(server) == PROJECT / ".tools" / "postgres" / "18-client" / "bin"


def test_a_pg_dump_path_that_is_not_one_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("FKGUARD_PG_DUMP", str(tmp_path / "pg_dump"))
    with pytest.raises(backup.BackupError) as refused:
        backup.client_bin(15)
    assert str(refused.value) == f"FKGUARD_PG_DUMP={tmp_path / 'pg_dump'} is not an executable pg_dump: fix the path, or unset it"


def test_two_ups_at_once_the_second_is_refused_by_the_stack_lock(tight, conn, pg):
    with Blocker(pg, "LOCK TABLE workflow_instances IN SHARE MODE") as blocker:
        first = start_killable(tight, "up", "--stack", "local", "--yes", "--skip-plugin-pre-install")
        wait_for_fkguard_waiting(conn)
        second = up(tight, check=False)
        blocker.release.set()
        output, _ = first.communicate(timeout=120)
    assert second.returncode != 0
    assert "the stack is currently locked by 1 lock(s)" in second.stdout + second.stderr
    assert first.returncode == 0, output
    assert set(fks(conn)) == {fk.name for fk in CATALOG if fk.tier == "critical"}
