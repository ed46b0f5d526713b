import pytest

from fkguard.stack.settings import ConnectionSettings, SettingsError

BASE = {
    "postgresql:host": "db.internal", "postgresql:port": "5433", "postgresql:database": "apms",
    "postgresql:username": "apms_user", "postgresql:password": "s3cret-Pw!", "postgresql:sslmode": "require",
    "fkguard:catalog": "",
}


def test_reads_pulumi_postgresql_keys():
    s = ConnectionSettings.from_config(BASE)
    assert (s.host, s.port, s.database, s.username, s.sslmode) == ("db.internal", 5433, "apms", "apms_user", "require")
    assert s.password == "s3cret-Pw!"


def test_password_never_in_repr_or_description():
    s = ConnectionSettings.from_config(BASE)
    assert "s3cret" not in repr(s) and "s3cret" not in s.describe()
    assert s.describe() == "apms_user@db.internal:5433/apms"


@pytest.mark.parametrize("change, message", [
    ({"postgresql:hostname": "x"}, "unknown config key postgresql:hostname in the stack: did you mean postgresql:host?"),
    ({"postgresql:host": ""}, "postgresql:host is not set for the stack: run pulumi config set postgresql:host <value>"),
    ({"postgresql:port": "five"}, "postgresql:port in the stack must be a number, got 'five'"),
    ({"postgresql:sslmode": "on"}, "postgresql:sslmode in the stack must be one of disable, allow, prefer, require"),
])
def test_bad_settings_are_named(change, message):
    with pytest.raises(SettingsError) as err:
        ConnectionSettings.from_config({**BASE, **change})
    assert message in str(err.value)


def test_unreachable_database_is_one_line_without_password():
    s = ConnectionSettings("127.0.0.1", 1, "apms", "fkguard", "s3cret-Pw!", "disable")
    with pytest.raises(SettingsError) as err:
        s.connect()
    text = str(err.value)
    assert text.startswith("cannot connect to fkguard@127.0.0.1:1/apms: ")
    assert "check the postgresql:* settings of the stack" in text
    assert "s3cret" not in text and "\n" not in text


def test_the_direct_address_is_the_stack_connection_at_fkguard_direct_host_and_port():
    from fkguard.stack.config import StackConfig

    assert StackConfig(BASE).direct_connection is None  # neither set: no direct address
    port_only = StackConfig({**BASE, "fkguard:directPort": "5432"}).direct_connection
    assert port_only is not None and (port_only.host, port_only.port) == ("db.internal", 5432)
    assert port_only.password == "s3cret-Pw!" and port_only.database == "apms" and port_only.sslmode == "require"
    both = StackConfig({**BASE, "fkguard:directHost": "db-primary.internal"}).direct_connection
    assert both is not None and (both.host, both.port) == ("db-primary.internal", 5433)


@pytest.mark.parametrize("value", ["five", "0", "70000"])
def test_a_bad_direct_port_is_named(value):
    from fkguard.stack.options import Options, OptionsError

    with pytest.raises(OptionsError) as err:
        Options.from_config({"fkguard:directPort": value})
    assert str(err.value) == f"fkguard:directPort must be a port number, got {value!r}"


def test_a_plan_needs_a_session_only_for_a_concurrent_statement():
    from fkguard.locks import needs_session

    assert needs_session(['CREATE INDEX CONCURRENTLY "c_p_idx" ON "s"."c" ("p");  -- on its own', "COMMENT ON ..."])
    assert needs_session(['DROP INDEX CONCURRENTLY IF EXISTS "s"."c_p_idx";  -- on its own'])
    assert not needs_session(["-- adopts s.c_p_idx, a valid index (CREATE INDEX CONCURRENTLY in its definition)"])
    assert not needs_session(['DROP INDEX IF EXISTS "s"."c_p_idx";  -- ACCESS EXCLUSIVE on s.c and its partitions'])
