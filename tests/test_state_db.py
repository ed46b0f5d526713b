"""`fkguard state-db`: the shared state's database and role, made idempotently on the test cluster."""

import psycopg
import pytest
from psycopg import sql

from fkguard import cli
from fkguard.stack import backend as state_backend
from fkguard_testing.fixtures import TEST_PG_PORT, TEST_PGDATA
from fkguard_testing.state_db import admin_connection

PASSWORD = "team:Pw\\with-escapes"


def test_backend_url_and_passfile_line_hold_no_password_and_escape_libpq_s_separators():
    state = state_backend.StateDb("db.internal", 5432, "pulumi_state", "ci", "verify-full", {"sslrootcert": "/etc/ca.pem"})
    assert state.backend_url() == ("postgres://ci@db.internal:5432/pulumi_state?sslmode=verify-full"
                                   "&sslrootcert=%2Fetc%2Fca.pem")
    assert state.passfile_line(PASSWORD) == "db.internal:5432:pulumi_state:ci:team\\:Pw\\\\with-escapes"


@pytest.fixture()
def names(pg):
    name = "fkguard_state_cmd"
    yield name
    with admin_connection() as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def test_state_db_is_idempotent_and_only_its_role_may_connect(names, pg, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STATE_PW", PASSWORD)
    passfile = tmp_path / "pgpass"
    args = ["state-db", "--host", "127.0.0.1", "--port", str(TEST_PG_PORT), "--database", names, "--role", names,
            "--sslmode", "disable", "--admin-host", str(TEST_PGDATA.resolve()), "--password-env", "STATE_PW",
            "--passfile", str(passfile)]
    assert cli.main(args) == 0
    first = capsys.readouterr().out
    assert f"fkguard state-db: role {names} created (login, password set)" in first
    assert f"export PULUMI_BACKEND_URL='postgres://{names}@127.0.0.1:{TEST_PG_PORT}/{names}?sslmode=disable'" in first
    assert cli.main(args) == 0  # again: nothing to create, the same result
    second = capsys.readouterr().out
    assert f"fkguard state-db: role {names} exists" in second and f"database {names} exists" in second
    assert PASSWORD not in first + second
    assert oct(passfile.stat().st_mode & 0o777) == "0o600"

    # The role logs in with the passfile alone (as Pulumi's backend does), and owns the database.
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    with psycopg.connect(host="127.0.0.1", port=TEST_PG_PORT, dbname=names, user=names) as conn:
        assert conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
                            ).fetchone()[0] == names
    # Another login role (the application's) may not connect to the state.
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(host="127.0.0.1", port=TEST_PG_PORT, dbname=names, user=pg.username, password=pg.password)
    # The server holds only the SCRAM verifier: the clear password was never sent.
    with admin_connection() as admin:
        stored = admin.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (names,)).fetchone()[0]
    assert stored.startswith("SCRAM-SHA-256$") and PASSWORD not in stored


def test_state_db_without_the_password_variable_is_refused_in_one_line(names, pg, monkeypatch, capsys):
    monkeypatch.delenv("STATE_PW", raising=False)
    assert cli.main(["state-db", "--host", "127.0.0.1", "--port", str(TEST_PG_PORT), "--database", names,
                     "--role", names, "--password-env", "STATE_PW"]) == 2
    assert capsys.readouterr().err == "fkguard state-db: STATE_PW is not set; export the state role's password there\n"
