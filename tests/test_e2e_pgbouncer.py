"""A rollout through PgBouncer in transaction mode (fkguard_testing.pgbouncer, in front of the test cluster), as a
user runs it: stack `qa` made by `fkguard init` with postgresql:port the pooler's, its own passphrase file, the gated
preview and `up` through scripts/bin/pulumi. The key goes in NOT VALID and is validated through the pooler; the
supporting index build and the backup, which need a session of their own, are refused at preview in one line until
fkguard:directPort names the database's own port, then run there. Meanwhile two other clients of the same pool read
their settings in every transaction, and afterwards every server connection of the pool still shows the server's.
(Tried with the pooler checks of fkguard.stack.pooler disabled: in one run of two, the clients saw pg_dump's empty
search_path and the build's lock_timeout and statement_timeout; in the other the pool happened to keep each on a
server connection that was then closed or reset. Which is why fkguard refuses rather than hopes.)"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fkguard_testing import pgbouncer as bouncer
from fkguard_testing.fixtures import pg_script
from fkguard_testing.pgbouncer import Pooler, every_server_connection, settings_now
from fkguard_testing.scratch import ScratchProject

pgbouncer = bouncer.pgbouncer  # the fixture, for this module
STACK = "qa"
DATABASE = "bounced"
GATE = ("--skip-plugin-pre-install", "--policy-pack", "policies", "--policy-pack-config", f"policy-config.{STACK}.json")
KEY = ("{name: fk_c_p, tier: critical, table: s.c, columns: [p_id], references: s.p, referenced_columns: [id], "
       "on_delete: RESTRICT}")
SCHEMA = """
    CREATE SCHEMA s; CREATE TABLE s.p (id int PRIMARY KEY); CREATE TABLE s.c (id int PRIMARY KEY, p_id int);
    INSERT INTO s.p SELECT generate_series(1, 200); INSERT INTO s.c SELECT g, g % 200 + 1 FROM generate_series(1, 2000) g"""
REFUSED = "needs a session of its own"


@pytest.fixture()
def bounced(pg) -> Iterator[psycopg.Connection]:
    """A database of its own with s.p and s.c (no index on c.p_id: fkguard must build one); a direct connection."""
    for statement in (f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", f"CREATE DATABASE {DATABASE} OWNER {pg.username}"):
        pg_script("psql", "-d", "postgres", "-c", statement)
    with pg.connect() as admin:
        admin.execute(f"ALTER DATABASE {DATABASE} SET search_path = s, public")  # what the other client must keep
    with psycopg.connect(**{**pg.connect_kwargs(), "dbname": DATABASE}) as conn:
        conn.execute(SCHEMA)
        yield conn
    pg_script("psql", "-d", "postgres", "-c", f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


@pytest.fixture()
def user(project, pg, bounced, tmp_path) -> Iterator[ScratchProject]:
    """The project copy as the user of stack qa runs it (tests/test_e2e_user_path.py); whatever the test leaves of
    the stack is destroyed and removed."""
    passphrase = tmp_path / "qa-passphrase"
    passphrase.write_text(secrets.token_urlsafe(24) + "\n")
    passphrase.chmod(0o600)
    me = project.as_user(PULUMI_CONFIG_PASSPHRASE_FILE=str(passphrase), QA_DB_PASSWORD=pg.password)
    yield me
    if STACK in {s["name"] for s in json.loads(me.run("stack", "ls", "--json").stdout)}:
        destroyed = me.run("destroy", "--stack", STACK, "--yes", "--skip-plugin-pre-install", check=False)
        removed = me.run("stack", "rm", STACK, "--yes", "--force", check=False)
        assert destroyed.returncode == 0 and removed.returncode == 0, destroyed.stdout + destroyed.stderr + removed.stderr


class OtherClient(threading.Thread):
    """An application's connection through the same pool (same database, same user): in every transaction it
    reads its settings, which must always be the ones its sessions start with."""

    def __init__(self, pooler: Pooler) -> None:
        super().__init__(daemon=True)
        self.settings = pooler.to(DATABASE)
        self.stop = threading.Event()
        self.seen: list[dict[str, str]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(**self.settings.connect_kwargs(application_name="the-application")) as conn:
                while not self.stop.wait(0.01):
                    with conn.transaction():
                        self.seen.append(settings_now(conn))
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            self.error = exc

    def finish(self) -> list[dict[str, str]]:
        self.stop.set()
        self.join(timeout=30)
        assert self.error is None, self.error
        return self.seen


def state(conn: psycopg.Connection) -> dict[str, object]:
    key = conn.execute("SELECT convalidated FROM pg_constraint WHERE conname = 'fk_c_p'").fetchone()
    index = conn.execute("SELECT i.indisvalid, obj_description(i.indexrelid, 'pg_class') FROM pg_index i "
                         "WHERE i.indexrelid = to_regclass('s.c_p_id_idx')").fetchone()
    return {"key": None if key is None else ("validated" if key[0] else "not valid"),
            "index": None if index is None else ("valid" if index[0] else "INVALID"),
            "marked": bool(index and index[1] and index[1].startswith("fkguard: built"))}


def refusal_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if REFUSED in line]


def test_a_rollout_through_pgbouncer_in_transaction_mode(user, pg, pgbouncer, bounced):
    (user.root / "qa-keys.yaml").write_text(f"constraints:\n  - {KEY}\n")
    made = user.fkguard("init", STACK, "--host", "127.0.0.1", "--port", str(bouncer.PORT), "--database", DATABASE,
                        "--username", pg.username, "--password-env", "QA_DB_PASSWORD", "--sslmode", "disable",
                        "--catalog", "qa-keys.yaml", "--policy-from", "local")
    assert "fkguard init: created stack qa" in made.stdout, made.stdout
    for key, value in (("fkguard:lockTimeout", "2345ms"), ("fkguard:statementTimeout", "654321ms"),
                       ("fkguard:backupDir", "qa-backups")):
        user.run("config", "set", key, value, "--stack", STACK)
    before = every_server_connection(pgbouncer, DATABASE)
    server_default = next(iter(before.values()))
    assert server_default["search_path"] == "s, public" and server_default["lock_timeout"] == "0", server_default

    # Without a direct address: the backup, then (without it) the index build, refused at preview in one line.
    for step, backup in (("the backup before the first change (pg_dump)", "true"),
                         ("building the index c_p_id_idx on s.c", "false")):
        user.run("config", "set", "fkguard:backup", backup, "--stack", STACK)
        refused = user.run("preview", "--stack", STACK, *GATE, check=False)
        lines = refusal_lines(refused.stdout + refused.stderr)
        assert refused.returncode != 0 and lines, refused.stdout + refused.stderr
        assert all(f"{step} {REFUSED}" in line for line in lines), lines
        assert all(f"127.0.0.1:{bouncer.PORT} (postgresql:host, postgresql:port) is a connection pooler" in line and
                   "set fkguard:directHost and fkguard:directPort to the database's own address" in line
                   for line in lines), lines
        assert state(bounced) == {"key": None, "index": None, "marked": False}

    user.run("config", "set", "fkguard:backup", "true", "--stack", STACK)
    user.run("config", "set", "fkguard:directPort", str(pg.port), "--stack", STACK)
    others = [OtherClient(pgbouncer) for _ in range(2)]  # busy enough that fkguard's statements change server connections
    for other in others:
        other.start()
    xacts = pgbouncer.stats(DATABASE)["total_xact_count"]
    up = user.run("up", "--stack", STACK, "--yes", *GATE)
    assert state(bounced) == {"key": "not valid", "index": "valid", "marked": True}, up.stdout
    assert len(list((user.root / "qa-backups").glob("*.dump"))) == 1
    user.run("config", "set", "fkguard:validateTiers", "all", "--stack", STACK)
    validated = user.run("up", "--stack", STACK, "--yes", *GATE)
    assert state(bounced)["key"] == "validated", validated.stdout
    discovered = user.fkguard("discover", "-s", STACK)  # read-only transactions, through the pooler too
    assert "fk_" in discovered.stdout
    seen = [s for other in others for s in other.finish()]

    # The program, the pack and the providers went through the pooler; the other client never saw their settings.
    assert pgbouncer.stats(DATABASE)["total_xact_count"] > xacts + 20
    assert len(seen) > 20 and all(s == server_default for s in seen), [s for s in seen if s != server_default][:3]
    assert all(s == server_default for s in every_server_connection(pgbouncer, DATABASE).values())
    for output in (up.stdout + up.stderr, validated.stdout + validated.stderr):
        assert "prepared statement" not in output and "Traceback" not in output, output

    destroyed = user.run("destroy", "--stack", STACK, "--yes", "--skip-plugin-pre-install")
    assert state(bounced) == {"key": None, "index": None, "marked": False}, destroyed.stdout  # dropped concurrently, direct
    assert re.search(r"-\s+\d+ (to )?delete", destroyed.stdout) or "deleted" in destroyed.stdout, destroyed.stdout
    assert Path(next((user.root / "qa-backups").glob("*.dump"))).stat().st_size > 0  # a deployment never deletes a dump
