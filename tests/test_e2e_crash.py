"""A `pulumi up` (or destroy) killed with SIGKILL late in a rollout, on a user's stack (`staging`, its own passphrase
file), with `scripts/env.sh`'s PULUMI_SKIP_CHECKPOINTS: the engine writes no state during the run, so everything
the dead run did is in the database and nothing of it in the stack. docs/recovery.md, as written, must converge from
there: database = stack = catalog, each supporting index once and valid, no pending operation.

Each kill comes after the steps of the earlier tiers succeeded: a blocker holds the last table the run reaches, and
the kill lands while fkguard waits on it (an index build, a VALIDATE or a DROP)."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator

import psycopg
import pytest

from fkguard.apms.generate import generate
from fkguard.catalog import load_catalog
from fkguard.indexes import RESOURCE_TYPE as INDEX_TYPE
from fkguard.introspect import BUILT_BY_FKGUARD
from fkguard.resource_properties import RESOURCE_TYPE
from fkguard_testing.scratch import ScratchProject
from tests.test_e2e_safety import Blocker, kill_everything

STACK = "staging"
CATALOG = load_catalog()
GATE = ("--skip-plugin-pre-install", "--policy-pack", "policies", "--policy-pack-config", f"policy-config.{STACK}.json")
RECOVERY = [("cancel", "--yes"), ("refresh", "--yes", "--clear-pending-creates", "--skip-plugin-pre-install")]
LAST = "fk_workflow_stage_actions_stage"  # the low tier's key on workflow_stage_actions, held by the blocker
EARLIER = {fk.name for fk in CATALOG if fk.tier != "low"}


@pytest.fixture()
def staging(project, pg, conn, tmp_path) -> Iterator[ScratchProject]:
    """APMS data and the stack `staging` as a user makes it (fkguard init, a passphrase file of its own)."""
    assert project.env.get("PULUMI_SKIP_CHECKPOINTS") == "true", "the tests run under scripts/env.sh, which sets it"
    generate(conn, 1000, {}, progress=lambda _: None)
    passphrase = tmp_path / "staging-passphrase"
    passphrase.write_text(secrets.token_urlsafe(24) + "\n")
    passphrase.chmod(0o600)
    user = project.as_user(PULUMI_CONFIG_PASSPHRASE_FILE=str(passphrase), STAGING_DB_PASSWORD=pg.password)
    user.fkguard("init", STACK, "--host", "127.0.0.1", "--port", str(pg.port), "--database", pg.database,
                 "--username", pg.username, "--password-env", "STAGING_DB_PASSWORD", "--sslmode", "disable",
                 "--policy-from", "local")
    for key, value in (("fkguard:lockTimeout", "300ms"), ("fkguard:lockRetryBudget", "60s"),
                       ("fkguard:backup", "false")):
        user.run("config", "set", key, value, "--stack", STACK)
    yield user
    destroyed = user.run("destroy", "--stack", STACK, "--yes", "--skip-plugin-pre-install", check=False)
    removed = user.run("stack", "rm", STACK, "--yes", "--force", check=False)
    assert destroyed.returncode == 0 and removed.returncode == 0, destroyed.stdout + destroyed.stderr + removed.stderr


def start(project: ScratchProject, *args: str) -> subprocess.Popen:
    return subprocess.Popen([str(project.cli), *args, "--non-interactive"], cwd=project.root, env=project.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def wait_for_fkguard_blocked_on(conn: psycopg.Connection, table: str, seconds: float = 120) -> str:
    """fkguard's statement waiting for a lock on `table`, once it waits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT a.query FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted "
            "AND a.application_name LIKE 'fkguard%%' AND l.relation = %s::regclass", (table,)).fetchone()
        if row:
            return row[0]
        time.sleep(0.05)
    raise AssertionError(f"fkguard never waited on {table}")


def constraints(conn: psycopg.Connection) -> dict[str, bool]:
    return dict(conn.execute("SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f' "
                             "AND connamespace = 'public'::regnamespace"))


def recorded(project: ScratchProject) -> dict:
    return json.loads(project.run("stack", "export", "--stack", STACK).stdout)["deployment"]


def names(deployment: dict, type_: str) -> list[str]:
    return sorted(r["urn"].rsplit("::", 1)[1] for r in deployment.get("resources") or [] if r["type"] == type_)


def indexes(conn: psycopg.Connection) -> tuple[list[str], list[str]]:
    """fkguard's own indexes (their comment marks them), and every INVALID index."""
    # On the catalog's tables only: the worker's database may hold other tests' tables.
    tables = sorted({str(fk.table) for fk in CATALOG})
    ours = [n for (n,) in conn.execute(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid::regclass::text "
        "= ANY(%s) AND starts_with(obj_description(c.oid, 'pg_class'), %s) ORDER BY 1", (
            [t.removeprefix("public.") for t in tables], BUILT_BY_FKGUARD))]
    invalid = [n for (n,) in conn.execute("SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid "
                                          "AND indrelid::regclass::text = ANY(%s)", ([t.removeprefix("public.")
                                                                                     for t in tables],))]
    return ours, invalid


def all_indexes(conn: psycopg.Connection) -> set[str]:
    return {n for (n,) in conn.execute("SELECT indexrelid::regclass::text FROM pg_index i JOIN pg_class c "
                                       "ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace")}


def killed_while_blocked(project: ScratchProject, conn, pg, lock: str, table: str, *command: str) -> str:
    with Blocker(pg, lock):
        process = start(project, *command)
        waiting = wait_for_fkguard_blocked_on(conn, table)
        kill_everything(process)
    return waiting


def recover(project: ScratchProject) -> None:
    locked = project.run("up", "--stack", STACK, "--yes", *GATE, check=False)
    assert locked.returncode != 0 and "locked" in locked.stdout + locked.stderr
    for step in RECOVERY:  # docs/recovery.md, verbatim
        project.run(*step, "--stack", STACK)


def converged(project: ScratchProject, conn, validated: bool) -> None:
    deployment = recorded(project)
    assert constraints(conn) == {fk.name: validated for fk in CATALOG}
    assert names(deployment, RESOURCE_TYPE) == sorted(fk.label for fk in CATALOG)  # none missing, none doubled
    assert not deployment.get("pending_operations")
    ours, invalid = indexes(conn)
    assert invalid == []
    recorded_indexes = [r["outputs"]["indexName"] for r in deployment["resources"] if r["type"] == INDEX_TYPE]
    assert sorted(recorded_indexes) == ours  # each built once, each in the stack


def test_killed_while_building_the_last_tiers_index_converges(staging, conn, pg):
    schemas_own = all_indexes(conn)
    waiting = killed_while_blocked(staging, conn, pg, "LOCK TABLE workflow_stage_actions IN SHARE MODE",
                                   "workflow_stage_actions", "up", "--stack", STACK, "--yes", *GATE)
    assert "CREATE INDEX CONCURRENTLY" in waiting
    done = constraints(conn)
    assert EARLIER <= set(done) and LAST not in done and not any(done.values())  # the earlier tiers, by the dead run
    assert names(recorded(staging), RESOURCE_TYPE) == []  # and none of it in the stack: no checkpoint was written
    recover(staging)
    staging.run("up", "--stack", STACK, "--yes", *GATE)
    converged(staging, conn, validated=False)
    staging.run("destroy", "--stack", STACK, "--yes", "--skip-plugin-pre-install")
    assert all_indexes(conn) == schemas_own  # every index the rollout built, the dead run's too, went with it


def test_killed_while_validating_the_last_tier_converges(staging, conn, pg):
    staging.run("up", "--stack", STACK, "--yes", *GATE)
    staging.run("config", "set", "fkguard:validateTiers", "all", "--stack", STACK)
    killed_while_blocked(staging, conn, pg, "LOCK TABLE workflow_stage_actions IN SHARE UPDATE EXCLUSIVE MODE",
                         "workflow_stage_actions", "up", "--stack", STACK, "--yes", *GATE)
    done = constraints(conn)
    assert all(done[name] for name in EARLIER)  # by the dead run (its waiting VALIDATE may yet commit, or not)
    assert not any(r["outputs"].get("convalidated") for r in recorded(staging)["resources"]
                   if r["type"] == RESOURCE_TYPE)  # the stack still has them NOT VALID
    recover(staging)
    staging.run("up", "--stack", STACK, "--yes", *GATE)
    converged(staging, conn, validated=True)


def test_killed_while_rolling_back_converges(staging, conn, pg):
    staging.run("up", "--stack", STACK, "--yes", *GATE)
    killed_while_blocked(staging, conn, pg, "LOCK TABLE config_versions IN SHARE MODE", "config_versions",
                         "destroy", "--stack", STACK, "--yes", "--skip-plugin-pre-install")
    # The critical keys at most: the other one if it waited its turn, and the one the blocker held unless its DROP,
    # still waiting in PostgreSQL when the client died, committed once the blocker let go.
    left = set(constraints(conn))
    assert left <= {fk.name for fk in CATALOG if fk.tier == "critical"}
    assert len(names(recorded(staging), RESOURCE_TYPE)) == len(CATALOG)  # the stack still lists all of them
    recover(staging)
    # A DROP the dead run left waiting may still commit once the blocker lets go: refresh reads what is there now.
    assert names(recorded(staging), RESOURCE_TYPE) == sorted(constraints(conn))
    staging.run("destroy", "--stack", STACK, "--yes", "--skip-plugin-pre-install")
    assert constraints(conn) == {}
    assert indexes(conn) == ([], [])
    assert names(recorded(staging), RESOURCE_TYPE) == []
