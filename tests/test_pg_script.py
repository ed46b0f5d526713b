"""scripts/pg.sh: the embedded cluster's start, stop and the ways they go wrong."""

import os
import socket
import subprocess

import psycopg

from fkguard_testing.fixtures import PG_VERSION, PROJECT, TEST_PG_PORT, local_env, pg_script

PORT = TEST_PG_PORT + 2  # per checkout too, next to the suite's own cluster


def connect(port):
    v = local_env()
    return psycopg.connect(host="127.0.0.1", port=port, dbname=v["FKGUARD_PG_DB"], user=v["FKGUARD_PG_USER"],
                           password=v["FKGUARD_LOCAL_DB_PASSWORD"], connect_timeout=5)


def test_start_is_idempotent_and_stop_stops(tmp_path):
    data = tmp_path / "pgdata"
    try:
        first = pg_script("start", port=PORT, datadir=data)
        assert f"creating a PostgreSQL {PG_VERSION} cluster" in first.stderr
        with connect(PORT) as c:
            assert c.execute("SHOW server_version").fetchone()[0].startswith(f"{PG_VERSION}.")
        again = pg_script("start", port=PORT, datadir=data)
        assert "already running" in again.stderr and "creating" not in again.stderr
    finally:
        pg_script("destroy", port=PORT, datadir=data)
    assert pg_script("status", port=PORT, datadir=data, check=False).returncode == 3


def test_port_taken_is_one_line_with_the_fix(tmp_path):
    blocker = socket.socket()
    # Like any server: the previous test's connections to this port may still be in TIME_WAIT.
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", PORT))
    blocker.listen()
    try:
        result = pg_script("start", port=PORT, datadir=tmp_path / "pgdata", check=False)
    finally:
        blocker.close()
        pg_script("destroy", port=PORT, datadir=tmp_path / "pgdata")
    assert result.returncode == 1
    assert f"pg: port {PORT} on 127.0.0.1 is taken by another process. Stop it, or choose a free port: " \
           f"FKGUARD_PG_PORT=<port> make db-up" in result.stderr


def test_recovers_from_a_crash_and_from_an_interrupted_setup(tmp_path):
    data = tmp_path / "pgdata"
    pg_script("start", port=PORT, datadir=data)
    real = os.path.realpath(data)
    try:
        pid = int(open(os.path.join(real, "postmaster.pid")).readline())
        os.kill(pid, 9)  # the server crashes: a stale postmaster.pid stays behind
        subprocess.run(["sleep", "1"], check=True)
        restarted = pg_script("start", port=PORT, datadir=data)
        assert "removing a stale postmaster.pid left by a crashed server" in restarted.stderr
        with connect(PORT) as c:
            assert c.execute("SELECT 1").fetchone() == (1,)
        pg_script("stop", port=PORT, datadir=data)
        os.remove(os.path.join(real, ".fkguard-ready"))  # as if setup was interrupted half-way
        rebuilt = pg_script("start", port=PORT, datadir=data)
        assert "left incomplete by an interrupted setup: recreating it" in rebuilt.stderr
        with connect(PORT) as c:
            assert c.execute("SELECT 1").fetchone() == (1,)
    finally:
        pg_script("destroy", port=PORT, datadir=data)


def test_data_folder_is_git_ignored():
    for name in (".pgdata", ".pgdata-test"):
        assert subprocess.run(["git", "check-ignore", "-q", name], cwd=PROJECT).returncode == 0, name


def test_a_data_folder_of_another_major_is_refused_in_one_line(tmp_path):
    data = tmp_path / "pgdata"
    data.mkdir()
    (data / "PG_VERSION").write_text("13\n")  # as initdb of another major leaves it
    result = pg_script("start", port=PORT, datadir=data, check=False)
    assert result.returncode == 1
    assert result.stderr == (f"pg: {data} holds a PostgreSQL 13 cluster, not {PG_VERSION}: "
                             f"use FKGUARD_PG_VERSION=13, or another FKGUARD_PGDATA\n")
    assert sorted(p.name for p in data.iterdir()) == ["PG_VERSION"]  # nothing created beside it
