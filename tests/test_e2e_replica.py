"""A streaming standby behind the test cluster (fkguard_testing.replica), as production databases have: its replay is
paused with pg_wal_replay_pause() so that its lag, as the primary reads it in pg_stat_replication, grows past a small
fkguard:maxReplicaLag. A gated `pulumi up` of stack `qa` (made by `fkguard init`, its own passphrase file, through
scripts/bin/pulumi, as a user runs it) then waits before its index build and says so, and goes on once the replay
is resumed; `fkguard monitor` names the lag and the oldest open transaction meanwhile. A role that cannot see the
lag is refused at preview, naming the grant, and settings that reach the standby itself are refused in one line,
at preview and by the fkguard commands. The module's standby is destroyed after it: nothing else is paced on it."""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Iterator

import psycopg
import pytest

from fkguard import monitor, replicas
from fkguard.stack import identity, pooler
from fkguard_testing import replica
from fkguard_testing.fixtures import as_superuser, pg_script
from fkguard_testing.scratch import ScratchProject

standby = replica.standby  # the fixture, for this module
STACK = "qa"
DATABASE = "replicated"
GATE = ("--skip-plugin-pre-install", "--policy-pack", "policies", "--policy-pack-config", f"policy-config.{STACK}.json")
KEY = ("{name: fk_c_p, tier: critical, table: s.c, columns: [p_id], references: s.p, referenced_columns: [id], "
       "on_delete: RESTRICT}")
SCHEMA = """
    CREATE SCHEMA s; CREATE TABLE s.p (id int PRIMARY KEY); CREATE TABLE s.c (id int PRIMARY KEY, p_id int);
    INSERT INTO s.p SELECT generate_series(1, 200); INSERT INTO s.c SELECT g, g % 200 + 1 FROM generate_series(1, 2000) g"""
WAITS = f"waits: standby {replica.NAME} (local socket, streaming) replays"
HIDDEN = "cannot see the standbys' replay lag"


@pytest.fixture()
def replicated(pg, standby) -> Iterator[psycopg.Connection]:
    """A database of its own with s.p and s.c (no index on c.p_id: fkguard builds one), on the primary."""
    for statement in (f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", f"CREATE DATABASE {DATABASE} OWNER {pg.username}"):
        pg_script("psql", "-d", "postgres", "-c", statement)
    with psycopg.connect(**{**pg.connect_kwargs(), "dbname": DATABASE}) as conn:
        conn.execute(SCHEMA)
        yield conn
    pg_script("psql", "-d", "postgres", "-c", f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


@pytest.fixture()
def monitoring(pg, standby) -> Iterator[None]:
    """The test role in pg_monitor, as the README's role setup has it, for this test only; the replay resumed after."""
    as_superuser(f"GRANT pg_monitor TO {pg.username}")
    yield
    standby.resume()
    as_superuser(f"REVOKE pg_monitor FROM {pg.username}")


@pytest.fixture()
def user(project, pg, standby, replicated, monitoring, tmp_path) -> Iterator[ScratchProject]:
    """The project copy as the user of stack qa runs it (tests/test_e2e_user_path.py); whatever the test leaves of
    the stack is destroyed (paced on the standby, resumed by then) and removed."""
    passphrase = tmp_path / "qa-passphrase"
    passphrase.write_text(secrets.token_urlsafe(24) + "\n")
    passphrase.chmod(0o600)
    me = project.as_user(PULUMI_CONFIG_PASSPHRASE_FILE=str(passphrase), QA_DB_PASSWORD=pg.password)
    yield me
    standby.resume()
    if STACK in {s["name"] for s in json.loads(me.run("stack", "ls", "--json").stdout)}:
        me.run("config", "set", "postgresql:port", str(pg.port), "--stack", STACK)  # the primary, whatever the test set
        destroyed = me.run("destroy", "--stack", STACK, "--yes", "--skip-plugin-pre-install", check=False)
        removed = me.run("stack", "rm", STACK, "--yes", "--force", check=False)
        assert destroyed.returncode == 0 and removed.returncode == 0, destroyed.stdout + destroyed.stderr + removed.stderr


def one_line_each(output: str, words: str) -> list[str]:
    """The lines of `output` that hold `words`: each refusal must say all it says on one of them."""
    return [line.strip() for line in output.splitlines() if words in line]


def state(conn: psycopg.Connection) -> dict[str, object]:
    key = conn.execute("SELECT convalidated FROM pg_constraint WHERE conname = 'fk_c_p'").fetchone()
    index = conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('s.c_p_id_idx')").fetchone()
    return {"key": None if key is None else ("validated" if key[0] else "not valid"),
            "index": None if index is None else ("valid" if index[0] else "INVALID")}


def test_a_role_that_cannot_see_the_lag_is_refused_in_one_line(pg, standby):
    with pg.connect() as conn:
        with pytest.raises(replicas.ReplicaLagError) as refused:
            replicas.wait_for_standbys(conn, 30_000, 60_000, "adding fk_c_p")
        assert replicas.wait_for_standbys(conn, 0, 60_000, "adding fk_c_p") == 0  # off: nothing is read
        seen = replicas.replication(conn)  # fkguard monitor says what it cannot see instead
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"fkguard:maxReplicaLag: {pg.username} {HIDDEN}"), message
    assert message.endswith(f"GRANT pg_monitor TO {pg.username}, or set fkguard:maxReplicaLag off"), message
    assert (seen.hidden, seen.standbys, seen.all_sessions) == (1, [], False)
    assert f"1 standby(s) whose lag {pg.username} cannot see: GRANT pg_monitor TO {pg.username}" in seen.lines(pg.username)


def test_settings_that_reach_the_standby_are_refused_in_one_line(standby):
    with standby.settings.connect() as conn:
        with pytest.raises(identity.StandbyTarget) as refused:
            identity.guard(conn, None, None, stack=STACK, what="checking fk_c_p")
        with pytest.raises(identity.StandbyTarget):
            identity.require_primary(conn, f"stack {STACK}")
    message = str(refused.value)
    assert "\n" not in message and message.startswith(
        f"checking fk_c_p (stack qa): postgresql:host and postgresql:port (127.0.0.1:{replica.PORT}) reach a standby "
        f"(pg_is_in_recovery() is true): it is read-only"), message
    assert message.endswith("set postgresql:host and postgresql:port to the primary's address"), message


def test_a_direct_address_that_reaches_the_standby_is_refused_naming_it(pg, standby):
    """A standby has its primary's identity, so the same-database check alone would let an index build go there."""
    with pg.connect() as conn, pytest.raises(identity.StandbyTarget) as refused:
        pooler.direct_connection(conn, standby.settings)
    assert str(refused.value).endswith("set fkguard:directHost and fkguard:directPort to the primary's address")


def test_the_wait_says_so_gives_up_after_its_bound_and_goes_on_once_the_standby_replays(pg, standby, monitoring):
    standby.pause(above_s=0.5)
    with pg.connect() as conn:
        lines: list[str] = []
        with pytest.raises(replicas.ReplicaLagError) as gave_up:
            replicas.wait_for_standbys(conn, 500, 1500, "building s.c_p_id_idx", progress=lines.append)
        message = str(gave_up.value)
        assert "\n" not in message and message.startswith(f"building s.c_p_id_idx: standby {replica.NAME} "
                                                          f"(local socket, streaming) replays "), message
        assert "above fkguard:maxReplicaLag 0.5s after waiting fkguard:maxReplicaWait 1.5s; nothing of this step ran" \
               in message, message
        assert len(lines) == 1 and f"fkguard: building s.c_p_id_idx {WAITS}" in lines[0], lines

        seen = replicas.replication(conn)
        assert [s.name for s in seen.standbys] == [replica.NAME] and seen.standbys[0].behind_bytes
        assert [f.verdict for f in monitor.replication_findings(seen, 500)] == [monitor.INVESTIGATE]
        assert monitor.replication_findings(seen, 0) == []  # off: no finding

        lines.clear()

        def resume_once(line: str) -> None:
            lines.append(line)
            if len(lines) == 1:
                standby.resume()

        waits = replicas.wait_for_standbys(conn, 500, 60_000, "building s.c_p_id_idx", progress=resume_once)
    assert waits >= 1 and WAITS in lines[0], lines
    assert re.fullmatch(r"fkguard: building s\.c_p_id_idx: the standbys caught up after \d+ s; going on", lines[-1]), lines


class Output(threading.Thread):
    """A running command's output, line by line as it comes; `seen` is set once a line holds `words`."""

    def __init__(self, process, words: str) -> None:
        super().__init__(daemon=True)
        self.process, self.words, self.lines, self.seen = process, words, [], threading.Event()

    def run(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            if self.words in line:
                self.seen.set()

    def text(self) -> str:
        return "".join(self.lines)


def test_up_waits_for_a_lagging_standby_and_a_standby_is_refused_as_the_target(user, pg, standby, replicated):
    (user.root / "qa-keys.yaml").write_text(f"constraints:\n  - {KEY}\n")
    user.fkguard("init", STACK, "--host", "127.0.0.1", "--port", str(pg.port), "--database", DATABASE,
                 "--username", pg.username, "--password-env", "QA_DB_PASSWORD", "--sslmode", "disable",
                 "--catalog", "qa-keys.yaml", "--policy-from", "local")
    for key, value in (("fkguard:maxReplicaLag", "1s"), ("fkguard:maxReplicaWait", "5min")):
        user.run("config", "set", key, value, "--stack", STACK)

    as_superuser(f"REVOKE pg_monitor FROM {pg.username}")  # the lag hidden: refused at preview, naming the grant
    refused = user.run("preview", "--stack", STACK, *GATE, check=False)
    lines = one_line_each(refused.stdout + refused.stderr, HIDDEN)
    assert refused.returncode != 0 and lines, refused.stdout + refused.stderr
    assert all(f"GRANT pg_monitor TO {pg.username}, or set fkguard:maxReplicaLag off" in line for line in lines), lines
    as_superuser(f"GRANT pg_monitor TO {pg.username}")

    standby.pause(above_s=1.5)
    with pg.connect(autocommit=False, application_name="a-long-report") as report:  # another database's transaction
        report_pid = report.execute("SELECT pg_backend_pid(), txid_current()").fetchone()[0]
        up = user.start("up", "--stack", STACK, "--yes", *GATE)
        output = Output(up, WAITS)
        output.start()
        assert output.seen.wait(300), output.text()  # the progress line, while the up waits
        assert state(replicated) == {"key": None, "index": None}  # nothing built before the standby replays
        shown = user.fkguard("monitor", "-s", STACK, check=False)
        assert re.search(rf"standby {replica.NAME} \(local socket, streaming\): replay lag \d+\.\d s", shown.stdout), \
            shown.stdout + shown.stderr
        assert f"oldest transaction: pid {report_pid} (a-long-report, idle in transaction) open for " in shown.stdout, \
            shown.stdout
    standby.resume()
    assert up.wait(600) == 0, output.text()
    output.join(30)
    assert "the standbys caught up after" in output.text(), output.text()
    assert state(replicated) == {"key": "not valid", "index": "valid"}, output.text()

    user.run("config", "set", "postgresql:port", str(replica.PORT), "--stack", STACK)  # the standby, by mistake
    previewed = user.run("preview", "--stack", STACK, *GATE, check=False)
    lines = one_line_each(previewed.stdout + previewed.stderr, "reach a standby")
    assert previewed.returncode != 0 and lines, previewed.stdout + previewed.stderr
    assert all("set postgresql:host and postgresql:port to the primary's address" in line for line in lines), lines
    for command in (("status", "-s", STACK), ("audit", "-s", STACK), ("monitor", "-s", STACK)):
        result = user.fkguard(*command, check=False)
        assert result.returncode != 0 and result.stderr.strip().count("\n") == 0, result.stdout + result.stderr
        assert f"fkguard {command[0]}: stack qa: postgresql:host and postgresql:port (127.0.0.1:{replica.PORT}) reach a " \
               f"standby" in result.stderr, result.stderr
