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
