"""Which database a stack deploys to: recorded by every resource, checked before each step.

A stack's state describes one database. Nothing else ties the two together: a staging stack whose
`postgresql:host` is edited to production's (or a copied config) would add and validate constraints
there, and `pulumi refresh` would rewrite the state to match. So each resource records the identity of
the database it was created in, and every later check (preview), update, refresh (read) and delete
compares it with the database the connection reaches, refusing a different one in one line.

The identity is the cluster's `system_identifier` (pg_control_system(): kept by physical replicas, so a
failover or a restore from a base backup passes; any other cluster, including a pg_dump restore or a
pg_upgrade, differs) and the database's oid (a different database of the same cluster differs). The
name and server version are recorded for the message only: a rename or a minor upgrade passes.

Moving a stack on purpose is one explicit setting naming the new database:
`fkguard:rebindDatabase: <system_identifier>/<oid>`, which matches one database only, so a flag left
set cannot bind the stack to a third.

A physical standby has its primary's identity (the same system_identifier and oid), and is read-only: settings
that reach one (pg_is_in_recovery()) are refused in one line naming them, before anything is tried there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from fkguard.errors import FkguardError

# The output each resource records it under.
PROPERTY = "databaseIdentity"
REBIND_KEY = "rebindDatabase"


class IdentityMismatch(FkguardError):
    """The connection reaches another database than the one the stack's state describes."""


class StandbyTarget(IdentityMismatch):
    """The connection reaches a standby (in recovery, read-only), not its primary."""


SETTINGS_KEYS = "postgresql:host and postgresql:port"


def standby_refusal(conn: psycopg.Connection, what: str, keys: str = SETTINGS_KEYS) -> StandbyTarget:
    return StandbyTarget(
        f"{what}: {keys} ({conn.info.host}:{conn.info.port}) reach a standby (pg_is_in_recovery() is true): it is "
        f"read-only, and fkguard changes the primary, which every standby replays; set {keys} to the primary's address")


def require_primary(conn: psycopg.Connection, what: str, keys: str = SETTINGS_KEYS) -> None:
    """Refuse a connection that reaches a standby, in one line naming the settings to fix."""
    row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    if row and row[0]:
        raise standby_refusal(conn, what, keys)


@dataclass(frozen=True)
class Identity:
    system_identifier: str  # a 64-bit number, kept as text: JSON and the state cannot hold it exactly as a float
    oid: int
    database: str
    version: str
    standby: bool = False  # in recovery: not part of the identity (a standby has its primary's)

    @property
    def fingerprint(self) -> str:
        """What is compared, and what fkguard:rebindDatabase names."""
        return f"{self.system_identifier}/{self.oid}"

    def describe(self) -> str:
        return f"{self.database} (cluster {self.system_identifier}, database oid {self.oid}, PostgreSQL {self.version})"

    def record(self) -> dict[str, Any]:
        return {"systemIdentifier": self.system_identifier, "oid": self.oid, "database": self.database,
                "version": self.version}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Identity:
        return cls(str(record["systemIdentifier"]), int(record["oid"]), str(record.get("database", "?")),
                   str(record.get("version", "?")))


def live(conn: psycopg.Connection) -> Identity:
    """The identity of the database this connection reaches."""
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute("""
                SELECT s.system_identifier::text AS system_identifier, d.oid::int AS oid, d.datname AS database,
                       current_setting('server_version') AS version, pg_is_in_recovery() AS standby
                  FROM pg_control_system() s, pg_database d
                 WHERE d.datname = current_database()""")
            row = cur.fetchone()
    except psycopg.errors.InsufficientPrivilege:
        raise IdentityMismatch(
            f"{conn.info.user} may not call pg_control_system(), which fkguard reads to know which database a stack "
            f"deploys to: GRANT EXECUTE ON FUNCTION pg_control_system() TO {conn.info.user}") from None
    assert row is not None  # current_database() is always in pg_database
    return Identity(row["system_identifier"], row["oid"], row["database"], row["version"].split(" ")[0], row["standby"])


def guard(conn: psycopg.Connection, recorded: Mapping[str, Any] | None, rebind: str | None, *, stack: str,
          what: str) -> Identity:
    """The live identity, once it is the recorded one (or the one fkguard:rebindDatabase names).

    `recorded` is what the resource's state holds (None: created before fkguard recorded identities, or
    not created yet). `what` names the step, for the message. A standby is refused first: it has the identity."""
    now = live(conn)
    if now.standby:
        raise standby_refusal(conn, f"{what} (stack {stack})")
    if rebind:
        if rebind.strip() == now.fingerprint:
            return now
        raise IdentityMismatch(
            f"{what}: fkguard:{REBIND_KEY} names {rebind.strip()}, but stack {stack}'s postgresql:* settings reach "
            f"{now.describe()}; set it to {now.fingerprint} to move the stack there, or remove it")
    if recorded:
        before = Identity.from_record(recorded)
        if before.fingerprint != now.fingerprint:
            raise IdentityMismatch(
                f"{what}: stack {stack} was deployed to {before.describe()}, but its postgresql:* settings now reach "
                f"{now.describe()}; refusing to change another database. Fix the settings, or to move the stack on "
                f"purpose: pulumi config set fkguard:{REBIND_KEY} {now.fingerprint} -s {stack}")
    return now


def recorded_in(props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The identity a resource's state recorded, if any."""
    value = props.get(PROPERTY)
    return value if isinstance(value, Mapping) and value.get("systemIdentifier") else None


def fingerprint_of(props: Mapping[str, Any]) -> str | None:
    recorded = recorded_in(props)
    return Identity.from_record(recorded).fingerprint if recorded else None


def to_record(olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
    """Whether a resource's state must take the identity its check found: never recorded (created by an
    fkguard before this one), or moved on purpose with fkguard:rebindDatabase."""
    found = fingerprint_of(news)
    return found is not None and fingerprint_of(olds) != found


def moved(olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
    """Whether the stack was moved to another database on purpose since this resource recorded one."""
    before = fingerprint_of(olds)
    return before is not None and to_record(olds, news)
