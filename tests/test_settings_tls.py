"""postgresql:sslrootcert and postgresql:clientcert (pulumi-postgresql's keys): read once in fkguard.stack.settings,
carried to psycopg and to pg_dump's environment; a bad value named in one line."""

import json

import pytest

from fkguard import backup
from fkguard.stack.settings import ConnectionSettings, SettingsError, connection_fix

BASE = {"postgresql:host": "db.internal", "postgresql:database": "apms", "postgresql:username": "fkguard",
        "postgresql:sslmode": "verify-full"}


@pytest.fixture()
def files(tmp_path):
    for name in ("ca.crt", "client.crt", "client.key"):
        (tmp_path / name).write_text("x")
    return tmp_path


@pytest.mark.parametrize("clientcert", [
    lambda d: {"cert": str(d / "client.crt"), "key": str(d / "client.key")},  # the object, as the engine gives it
    lambda d: json.dumps({"cert": str(d / "client.crt"), "key": str(d / "client.key"), "sslinline": "false"}),  # as text
])
def test_tls_files_reach_psycopg_and_pg_dump(files, clientcert, monkeypatch):
    s = ConnectionSettings.from_config({**BASE, "postgresql:sslrootcert": str(files / "ca.crt"),
                                        "postgresql:clientcert": clientcert(files)})
    expected = {"sslrootcert": str(files / "ca.crt"), "sslcert": str(files / "client.crt"), "sslkey": str(files / "client.key")}
    assert s.tls_params() == expected
    assert {k: s.connect_kwargs()[k] for k in expected} == expected and s.connect_kwargs()["sslmode"] == "verify-full"
    monkeypatch.setenv("PGSSLCRL", "/keep/me")
    monkeypatch.setenv("PGSSLROOTCERT", "/the/shell/s/ca")  # an inherited one never overrides the stack's
    env = backup.libpq_env(s)
    assert (env["PGSSLMODE"], env["PGSSLROOTCERT"], env["PGSSLCERT"], env["PGSSLKEY"]) == (
        "verify-full", *expected.values())
    without = backup.libpq_env(ConnectionSettings.from_config(BASE))
    assert "PGSSLROOTCERT" not in without and "PGSSLCERT" not in without


@pytest.mark.parametrize("change, message", [
    ({"postgresql:sslrootcert": "/no/such/ca.crt"},
     "postgresql:sslrootcert of the stack names /no/such/ca.crt, which is not a file: fix the path"),
    ({"postgresql:clientcert": {"cert": "/x"}}, "postgresql:clientcert in the stack must be an object with cert and key"),
    ({"postgresql:clientcert": {"cert": "/x", "key": "/y", "password": "p"}},
     "unknown key password in postgresql:clientcert of the stack: it takes cert and key"),
    ({"postgresql:clientcert": {"cert": "-----BEGIN", "key": "-----BEGIN", "sslinline": True}},
     "postgresql:clientcert.sslinline in the stack: fkguard reads the certificate and key from files"),
    ({"postgresql:sslcert": "/x"}, "postgresql:sslcert in the stack is libpq's name; pulumi-postgresql's is "
                                   "postgresql:clientcert.cert: pulumi config set --path postgresql:clientcert.cert <file>"),
])
def test_bad_tls_settings_are_named(change, message):
    with pytest.raises(SettingsError) as refused:
        ConnectionSettings.from_config({**BASE, **change})
    assert message in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("reason, fix", [
    ('server certificate for "localhost" does not match host name "127.0.0.1"', "postgresql:host must be a name"),
    ("SSL error: certificate verify failed", "set postgresql:sslrootcert to the CA file"),
    ('root certificate file "/x" does not exist', "set postgresql:sslrootcert to the CA file"),
    ("server does not support SSL, but SSL was required", "lower postgresql:sslmode"),
    ("connection requires a valid client certificate", "check postgresql:clientcert"),
    ("password authentication failed for user", "check the postgresql:* settings of the stack"),
])
def test_each_tls_refusal_names_its_setting(reason, fix):
    assert connection_fix(reason).startswith(fix) or fix in connection_fix(reason)
