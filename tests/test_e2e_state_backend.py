"""The team setup through the real CLI: Pulumi's postgres backend (PULUMI_BACKEND_URL without a password,
the role's password in a passfile) shared by two checkouts; its stack lock under two `up` started together,
also in the worst interleaving; a SIGKILL mid-`up` and docs/recovery.md with this backend; no password in
clear in PULUMI_HOME or in the state table."""

import json
import os
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from fkguard.apms.generate import generate
from fkguard_testing import state_db
from fkguard_testing.fixtures import pulumi_bin
from fkguard_testing.state_db import STATE_PASSWORD, SharedState, admin_connection
from tests.test_e2e_safety import RECOVERY, Blocker, fks, kill_everything, start_killable, wait_for_fkguard_waiting

shared_state, second_checkout = state_db.shared_state, state_db.second_checkout  # the fixtures, for this module

# Two `up` per run, a few seconds each; FKGUARD_RACE_RUNS=100 for the long measure (the gated worst case a third as often).
RACE_RUNS = int(os.environ.get("FKGUARD_RACE_RUNS") or 5)
CRITICAL = {"fk_workflow_instances_config_version", "fk_workflow_instances_workspace"}


@pytest.fixture()
def team(project, conn, shared_state: SharedState, second_checkout):
    """Two checkouts on one shared stack `local` (created by the first), the critical tier, APMS data."""
    generate(conn, 1000, {}, progress=lambda _: None)
    conn.execute("CREATE INDEX workflow_instances_config_version_id_idx ON workflow_instances (config_version_id)")
    first = shared_state.checkout("first", project)
    first.run("stack", "init", "local", "--secrets-provider", "passphrase")
    second_checkout.run("stack", "select", "local")  # as a team member does after the first one created it
    for copy in (first, second_checkout):
        for key, value in (("fkguard:addTiers", "critical"), ("fkguard:lockTimeout", "300ms"),
                           ("fkguard:lockRetryBudget", "30s")):
            copy.run("config", "set", key, value, "--stack", "local")
    return first, second_checkout


def up(copy, *extra, check=True):
    return copy.run("up", "--stack", "local", "--yes", "--skip-plugin-pre-install", *extra, check=check)


def test_two_checkouts_share_one_stack(team, conn, shared_state):
    first, second = team
    up(first)
    assert {k for k, v in fks(conn).items() if v is False} == CRITICAL
    # The second checkout sees the first one's deployment: its outputs, and nothing left to do.
    outputs = json.loads(second.run("stack", "output", "--json", "--stack", "local").stdout)
    assert {k for k, v in outputs["constraints"].items() if v == "not valid"} == CRITICAL
    assert "4 unchanged" in up(second).stdout  # the stack, the baseline, the 2 keys (their indexes are the schema's)
    status = {r["constraint"]: r["stack"] for r in json.loads(second.fkguard("status", "-s", "local", "--json").stdout)}
    assert {k for k, v in status.items() if v == "not valid"} == CRITICAL
    # The deployment is in the table, not in either checkout's folder (the copies' file backend only has the
    # empty stack their setup made).
    assert b"ForeignKeyConstraint" in next(v for k, v in shared_state.rows().items()
                                           if k.endswith("/.pulumi/stacks/fkguard/local.json"))
    for copy in team:
        assert "ForeignKeyConstraint" not in copy.state_file("local").read_text()


def _start_up(copy) -> subprocess.Popen:
    return subprocess.Popen([str(pulumi_bin()), "up", "--stack", "local", "--yes", "--skip-plugin-pre-install",
                             "--non-interactive"], cwd=copy.root, env=copy.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


REFUSALS = ("the stack is currently locked by", "key not found", "could not list bucket")


def _outcome(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=300)
    if process.returncode == 0:
        return "through"
    # Refused by the lock: the other's lock row seen, or (the worst interleaving) the other's row read, or listed,
    # while that run was removing it after being refused itself. Either way before anything changed.
    assert any(words in output for words in REFUSALS), output
    return "refused"


GATE = sql.SQL("""CREATE FUNCTION race_gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.key LIKE '%/.pulumi/locks/%' THEN PERFORM pg_advisory_xact_lock_shared(4242); END IF; RETURN NEW; END $$;
CREATE TRIGGER race_gate BEFORE INSERT ON pulumi_state FOR EACH ROW EXECUTE FUNCTION race_gate()""")


def _race(team, gated: psycopg.Connection | None) -> tuple[str, str]:
    """Both checkouts' `up` started together. Gated: both lock-row INSERTs are held (a trigger waits on an
    advisory lock the test holds) until both are waiting, then released at once: both rows land before either
    process checks again, the worst case for the backend's write-then-check lock."""
    if gated is not None:
        gated.execute("SELECT pg_advisory_lock(4242)")
    processes = [_start_up(copy) for copy in team]
    if gated is not None:
        deadline = time.monotonic() + 120
        while gated.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 "
                            "AND NOT granted").fetchone()[0] < 2:
            assert time.monotonic() < deadline and all(p.poll() is None for p in processes), "no race: one ended early"
            time.sleep(0.01)
        gated.execute("SELECT pg_advisory_unlock(4242)")
    first, second = (_outcome(p) for p in processes)
    return first, second


def test_concurrent_ups_are_never_both_let_through(team, conn, shared_state):
    up(team[0])  # the stack exists and is deployed: each `up` below has nothing to change but takes the lock
    outcomes: dict[str, int] = {}
    with admin_connection(shared_state.state.database) as gate:
        gate.execute(GATE)
        try:
            for _ in range(max(3, RACE_RUNS // 3)):
                pair = _race(team, gate)
                outcomes[f"gated {'/'.join(pair)}"] = outcomes.get(f"gated {'/'.join(pair)}", 0) + 1
                assert pair != ("through", "through"), outcomes
                assert shared_state.lock_rows() == []  # every refused run removed its own lock row
        finally:
            gate.execute("DROP TRIGGER race_gate ON pulumi_state; DROP FUNCTION race_gate()")
        for _ in range(RACE_RUNS):  # started within milliseconds of each other, with nothing holding them
            pair = _race(team, None)
            outcomes["/".join(pair)] = outcomes.get("/".join(pair), 0) + 1
            assert pair != ("through", "through"), outcomes
            assert shared_state.lock_rows() == []
    print(f"race outcomes: {outcomes}")
    assert fks(conn) == dict.fromkeys(CRITICAL, False)


def test_killed_mid_up_recovers_as_documented_with_the_postgres_backend(team, conn, pg, shared_state):
    first, second = team
    with Blocker(pg, "LOCK TABLE workflow_instances IN SHARE MODE"):
        process = start_killable(first, "up", "--stack", "local", "--yes", "--skip-plugin-pre-install")
        wait_for_fkguard_waiting(conn)
        kill_everything(process)
    assert len(shared_state.lock_rows()) == 1  # the dead run's lock row stays
    locked = up(second, check=False)  # the other checkout is refused too: the lock is in the shared table
    assert locked.returncode != 0 and "the stack is currently locked by 1 lock(s)" in locked.stdout + locked.stderr
    assert "****:****@" in locked.stdout + locked.stderr or STATE_PASSWORD not in locked.stdout + locked.stderr

    for step in RECOVERY:  # docs/recovery.md, verbatim, from the other checkout
        second.run(*step, "--stack", "local")
    assert shared_state.lock_rows() == []
    up(second)
    assert fks(conn) == dict.fromkeys(CRITICAL, False)
    exported = json.loads(first.run("stack", "export", "--stack", "local").stdout)
    assert not exported["deployment"].get("pending_operations")


def test_no_password_in_clear_in_pulumi_home_or_the_state_table(team, pg, shared_state):
    first, second = team
    up(first)
    up(second)
    secrets = {STATE_PASSWORD, pg.password}
    assert pg.password and all(len(s) > 8 for s in secrets)
    for copy in team:
        home = Path(copy.env["PULUMI_HOME"])
        files = [f for f in home.rglob("*") if f.is_file() and f.stat().st_size < 50_000_000]
        assert any(f.parent.name == "workspaces" for f in files)  # where Pulumi keeps the backend URL
        for f in files:
            data = f.read_bytes()
            assert not any(s.encode() in data for s in secrets), f"a password in clear in {f}"
        workspace = next(f for f in files if f.parent.name == "workspaces").read_text()
        assert shared_state.state.backend_url() in workspace  # the URL is there, and it has no password
    rows = shared_state.rows()
    assert len(rows) > 5
    for key, data in rows.items():
        assert not any(s.encode() in data for s in secrets), f"a password in clear in the state row {key}"
    # The stack's password is in the state only as Pulumi's ciphertext (the stack's config stays in Pulumi.local.yaml).
    assert STATE_PASSWORD not in second.root.joinpath("Pulumi.local.yaml").read_text()
