"""Which connection may hold session state: the stack's own, or fkguard:directHost/directPort's.

A transaction pooler (PgBouncer's pool_mode = transaction, the usual front of a busy database) lends a client
a server connection for one transaction at a time. Whatever fkguard runs inside a transaction passes it: SET
LOCAL, set_config(..., true), several statements sent as one message. Session state does not: a SET outside a
transaction stays on that server connection for whichever client gets it next (PgBouncer's feature map: SET/RESET
"never" in transaction pooling), and the next statement may run on another server connection. Two of fkguard's
steps need a session: CREATE and DROP INDEX CONCURRENTLY, which refuse a transaction block and so take their
lock_timeout and statement_timeout from session settings, and pg_dump, which sets search_path and its timeouts
for its session before it reads.

How fkguard knows: a pooler answers the client's startup itself, with a cancel key of its own, so the backend pid
libpq was given is not pg_backend_pid() of the server that runs the query; connected directly, the two are the same.
That is one query per connection, leaks nothing, and does not depend on which server connection the pool lends
(pg_backend_pid() compared across two transactions does: PgBouncer lends the one used last, so an idle pool looks
like a session). No client can tell transaction from session pooling, so every pooler is taken for one that lends
its sessions to others, and an address the user names in fkguard:directHost/directPort is taken at their word: the
database itself, or a pooler in session mode.
"""

from __future__ import annotations

import weakref

import psycopg

from fkguard.errors import SettingsError
from fkguard.stack import connections, identity
from fkguard.stack.connections import pooled
from fkguard.stack.settings import ConnectionSettings

DIRECT_KEYS = "fkguard:directHost and fkguard:directPort"
_vouched: weakref.WeakSet[psycopg.Connection] = weakref.WeakSet()  # opened from the user's direct address


def holds_session(conn: psycopg.Connection) -> bool:
    """Whether a session-level setting made on `conn` stays with this client and reaches no other."""
    return conn in _vouched or not pooled(conn)


def refusal(conn: psycopg.Connection, what: str) -> SettingsError:
    """The one line for a step that needs a session on a connection through a pooler."""
    return SettingsError(
        f"{what} needs a session of its own (session-level lock_timeout and statement_timeout, or pg_dump's settings), "
        f"and {conn.info.host}:{conn.info.port} (postgresql:host, postgresql:port) is a connection pooler, which in "
        f"transaction mode lends a session's settings to other clients: set {DIRECT_KEYS} to the database's own "
        f"address (or a session-mode pooler's); fkguard connects there for these steps only", key="fkguard:directHost")


def _same_database(conn: psycopg.Connection, direct: psycopg.Connection, settings: ConnectionSettings) -> None:
    """The direct address must reach the database the stack's connection reaches, or an index would be built in
    one database for the keys of another."""
    ours, theirs = identity.live(conn), identity.live(direct)
    if theirs.standby:  # a standby has its primary's identity: the check below would pass
        raise identity.standby_refusal(direct, "an index build or the backup", DIRECT_KEYS)
    if ours.fingerprint != theirs.fingerprint:
        raise SettingsError(f"{DIRECT_KEYS} ({settings.host}:{settings.port}) reach {theirs.describe()}, but the stack's "
                            f"postgresql:* settings reach {ours.describe()}: point them at the same database",
                            key="fkguard:directHost")


def direct_connection(conn: psycopg.Connection, direct: ConnectionSettings) -> psycopg.Connection:
    """This thread's connection to the direct address, once it reaches the database `conn` reaches."""
    try:
        other = connections.thread_connection(direct, "fkguard-direct")
    except SettingsError as exc:
        raise SettingsError(f"{DIRECT_KEYS}: {exc}", key="fkguard:directHost") from None
    _same_database(conn, other, direct)
    _vouched.add(other)
    return other


def session_connection(conn: psycopg.Connection, direct: ConnectionSettings | None, what: str) -> psycopg.Connection:
    """The connection on which `what` may set session state: the direct address's when the stack names one,
    else `conn` when it reaches PostgreSQL directly; through a pooler without a direct address, refused."""
    if direct is not None:
        return direct_connection(conn, direct)
    if not pooled(conn):
        return conn
    raise refusal(conn, what)


def session_settings(conn: psycopg.Connection, settings: ConnectionSettings, direct: ConnectionSettings | None,
                     what: str) -> ConnectionSettings:
    """Where a client of its own (pg_dump) connects for `what`, chosen as session_connection chooses."""
    if direct is not None:
        direct_connection(conn, direct)
        return direct
    if not pooled(conn):
        return settings
    raise refusal(conn, what)
