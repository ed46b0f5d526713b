"""A PostgreSQL cluster that speaks TLS only, as a managed database does: its own certificate authority
(openssl, in the test's folder), a server certificate for the name `localhost`, and a client certificate.
Its pg_hba accepts TCP connections over TLS with a client certificate signed by that CA, and rejects any
other, so everything that reaches it carried the stack's TLS settings. The cluster (its own folder and
port, beside the test cluster) is stopped and removed at the session's end."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from fkguard.stack.settings import ConnectionSettings
from fkguard_testing.fixtures import TEST_PG_PORT, TEST_PGDATA, pg_script
from fkguard_testing.scratch import local_env

HOST = "localhost"  # the name in the server's certificate; 127.0.0.1 is the same server under a name it does not carry
TLS_PORT = TEST_PG_PORT + 500  # below the next checkout's and worker's ports (offsets are under 1000 apart by 1000)
TLS_PGDATA = TEST_PGDATA.with_name(TEST_PGDATA.name + "-tls")

HBA = """# fkguard_testing.tls: TLS with a client certificate of the test CA, or nothing
local all all trust
hostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-ca
hostssl all all ::1/128 scram-sha-256 clientcert=verify-ca
hostnossl all all 0.0.0.0/0 reject
hostnossl all all ::/0 reject
"""


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{result.stderr}")


def make_ca(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed CA (certificate, key) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=folder)
    return folder / f"{name}.crt", folder / f"{name}.key"


def issue(folder: Path, ca: tuple[Path, Path], name: str, common_name: str, san: str | None = None) -> tuple[Path, Path]:
    """A certificate (and its 0600 key) for `common_name` signed by `ca`; `san` e.g. DNS:localhost."""
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={common_name}", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", cwd=folder)
    extensions = folder / f"{name}.ext"
    extensions.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
             "-days", "2", "-extfile", extensions.name, "-out", f"{name}.crt", cwd=folder)
    os.chmod(folder / f"{name}.key", 0o600)  # libpq and lib/pq refuse a key others can read
    return folder / f"{name}.crt", folder / f"{name}.key"


@dataclass(frozen=True)
class TlsCluster:
    settings: ConnectionSettings  # verify-full by name, with the CA and the client certificate
    ca: Path
    wrong_ca: Path  # a CA that did not sign the server's certificate
    client_cert: Path
    client_key: Path

    def config(self) -> dict[str, str]:
        """The stack config that reaches it (pulumi config set --path for the clientcert object)."""
        return {"postgresql:host": HOST, "postgresql:port": str(TLS_PORT), "postgresql:sslmode": "verify-full",
                "postgresql:sslrootcert": str(self.ca), "postgresql:clientcert.cert": str(self.client_cert),
                "postgresql:clientcert.key": str(self.client_key)}


def _serve_tls(datadir: Path, server: tuple[Path, Path], ca: Path) -> None:
    real = datadir.resolve()
    owner = real.stat()
    for source, target in ((server[0], "server.crt"), (server[1], "server.key"), (ca, "root.crt")):
        shutil.copyfile(source, real / target)
        os.chown(real / target, owner.st_uid, owner.st_gid)
        os.chmod(real / target, 0o600)
    (real / "pg_hba.conf").write_text(HBA)
    os.chown(real / "pg_hba.conf", owner.st_uid, owner.st_gid)
    # Fixed test values, no input; each -c its own statement (ALTER SYSTEM refuses a transaction block).
    statements = [arg for k, v in (("ssl", "on"), ("ssl_cert_file", "server.crt"), ("ssl_key_file", "server.key"),
                                   ("ssl_ca_file", "root.crt")) for arg in ("-c", f"ALTER SYSTEM SET {k} = '{v}'")]
    pg_script("psql", "-d", "postgres", *statements, "-c", "SELECT pg_reload_conf()", port=TLS_PORT, datadir=datadir)


@pytest.fixture(scope="session")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsCluster]:
    folder = tmp_path_factory.mktemp("tls")
    ca = make_ca(folder, "ca")
    wrong_ca, _ = make_ca(folder, "other-ca")
    server = issue(folder, ca, "server", HOST, san=f"DNS:{HOST}")
    values = local_env()
    client = issue(folder, ca, "client", values["FKGUARD_PG_USER"])
    pg_script("destroy", port=TLS_PORT, datadir=TLS_PGDATA, check=False)  # what an interrupted run left
    pg_script("start", port=TLS_PORT, datadir=TLS_PGDATA)
    try:
        _serve_tls(TLS_PGDATA, server, ca[0])
        settings = ConnectionSettings(HOST, TLS_PORT, values["FKGUARD_PG_DB"], values["FKGUARD_PG_USER"],
                                      values["FKGUARD_LOCAL_DB_PASSWORD"], "verify-full", str(ca[0]), str(client[0]),
                                      str(client[1]))
        with settings.connect() as conn:  # the server now speaks TLS and wants the client certificate
            assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)
        yield TlsCluster(settings, ca[0], wrong_ca, client[0], client[1])
    finally:
        pg_script("destroy", port=TLS_PORT, datadir=TLS_PGDATA, check=False)


def tls_superuser(cluster: TlsCluster, database: str = "postgres") -> psycopg.Connection:
    """The TLS cluster's superuser, through its socket folder (trusted there)."""
    return psycopg.connect(host=str(TLS_PGDATA.resolve()), port=TLS_PORT, dbname=database, user="postgres",
                           autocommit=True)
