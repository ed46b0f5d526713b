"""ForeignKeyConstraint: one PostgreSQL foreign key as a Pulumi resource.

create = ADD … NOT VALID (then VALIDATE in a second transaction if asked), update = VALIDATE and/or
ALTER CONSTRAINT [NOT] DEFERRABLE, delete = DROP, each an operation of fkguard.operations; read = what
pg_constraint says in every attribute (so `pulumi refresh` sees drift). Any other change of definition replaces the constraint.

Deferral changes in place rather than by replacement: ALTER CONSTRAINT keeps the constraint and its
validation, where drop-and-add would leave writes unchecked for a moment and need a new VALIDATE scan.

The provider is pickled by reference to this module: its path (resources.foreign_key) and class
name must never change, or existing stacks could no longer load it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
import pulumi
from pulumi import dynamic

from fkguard import introspect, ownership, replicas, resource_properties, rollout
from fkguard.catalog import ForeignKey, entry_problems
from fkguard.errors import EXPECTED, OneLineTracebacks, describe
from fkguard.locks import LockPolicy
from fkguard.operations import AlterDeferral, ConstraintOutcome, CreateConstraint, DropConstraint, Validate
from fkguard.resource_properties import ALTER_ON, PROPERTY_OF, REPLACE_ON, changed, inputs_of, to_entry, to_foreign_key
from fkguard.stack import config, connections, engine, identity, pooler, pulumi_sdk
from fkguard.stack.options import Options
from fkguard.stack.settings import ConnectionSettings, SettingsError

# The type token's parts: fkguard.resource_properties derives RESOURCE_TYPE from them, which the pack and the stack
# readers match on.
TYPE_NAME = resource_properties.TYPE_NAME
MODULE = resource_properties.MODULE

# Set by configure() in the provider process only; module-level so that no connection setting,
# least of all the password, is ever pickled with the provider into the state.
_connection: ConnectionSettings | None = None
_direct: ConnectionSettings | None = None  # fkguard:directHost/directPort's, for the steps that need a session
_options: Options = Options()
_config_error: str | None = None
# One ALTER TABLE at a time per deployment: the engine calls the provider from up to 4 threads.
_one_at_a_time = threading.Lock()
# In the provider server (every fkguard resource's provider imports this module): end with a killed engine.
engine.watch(engine.provider_engine(sys.argv))


def _outputs(fk: ForeignKey, validated_wanted: bool, outcome: ConstraintOutcome, database: dict[str, Any],
             stack: Any) -> dict[str, Any]:
    return {
        **inputs_of(fk, validated_wanted),
        "stack": stack,
        identity.PROPERTY: database,
        "convalidated": outcome.validated,
        "definition": outcome.definition,
        "state": outcome.state,
        "sql": outcome.sql,
    }


def _policy() -> LockPolicy:
    return LockPolicy.from_options(_options)


def guarded(conn: psycopg.Connection, recorded: dict[str, Any], props: dict[str, Any], what: str) -> dict[str, Any]:
    """The database's identity to record, once it is the one `recorded` (a resource's state) names, or the one
    fkguard:rebindDatabase names (fkguard.stack.identity). Every provider step that touches the database calls it."""
    stack = str(props.get("stack") or recorded.get("stack") or "<stack>")
    return identity.guard(conn, identity.recorded_in(recorded), _options.rebind_database, stack=stack,
                          what=what).record()


def connection_settings() -> ConnectionSettings:
    if _config_error:
        raise SettingsError(_config_error)
    if _connection is None:
        raise SettingsError("no postgresql:* settings reached the provider; set them in Pulumi.<stack>.yaml")
    return _connection


def session_connection(conn: psycopg.Connection, what: str) -> psycopg.Connection:
    """The connection for a step that needs a session of its own (fkguard.stack.pooler): the direct address's, or
    `conn` where it reaches PostgreSQL directly; through a pooler without one, refused in one line."""
    return pooler.session_connection(conn, _direct, what)


def session_settings(conn: psycopg.Connection, what: str) -> ConnectionSettings:
    """Where a client of its own (pg_dump) connects for `what`, chosen as session_connection chooses."""
    return pooler.session_settings(conn, connection_settings(), _direct, what)


@contextmanager
def _connect(what: str, fk: ForeignKey | str) -> Iterator[psycopg.Connection]:
    """The thread's connection for one step of a constraint (or of the index of the constraints named);
    what PostgreSQL refuses comes back as one line naming the step."""
    settings = connection_settings()
    try:
        yield connections.thread_connection(settings)
    except psycopg.Error as exc:
        reason = describe(exc)
        raise rollout.RolloutError(f"{what}: PostgreSQL refused it as {settings.username}: {reason}",
                                   constraint=fk if isinstance(fk, str) else fk.name) from None


class ForeignKeyConstraintProvider(dynamic.ResourceProvider):
    def configure(self, req: dynamic.ConfigureRequest) -> None:
        global _connection, _direct, _options, _config_error
        # An fkguard refusal or PostgreSQL's shows as its one line; a bug keeps its traceback.
        pulumi_sdk.format_provider_failures_with(OneLineTracebacks())
        raw = pulumi_sdk.provider_config(req)
        if raw is None:  # an SDK without the raw mapping: ask for the keys fkguard knows
            raw = {k: v for k in config.KEYS if (v := req.config.get(k)) is not None}
        stack_config = config.StackConfig(raw)
        try:
            _connection = stack_config.connection
            _options = stack_config.options
            _direct = stack_config.direct_connection
            _config_error = None
        except EXPECTED as exc:
            _config_error = describe(exc)

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        news = resource_properties.without_preflight(news)
        failures = [dynamic.CheckFailure(PROPERTY_OF.get(field, field), message)
                    for field, message in entry_problems(to_entry(news))]
        if not isinstance(news.get("validated"), bool):
            failures.append(dynamic.CheckFailure("validated", "'validated' must be true or false"))
        if failures:
            return dynamic.CheckResult(news, failures)
        fk = to_foreign_key(news)
        inputs = {**news, **inputs_of(fk, news["validated"])}
        try:
            with _connect(f"checking {fk.name}", fk) as conn, introspect.names_held():
                inputs[identity.PROPERTY] = guarded(conn, olds, news, f"checking {fk.name}")
                replicas.check_visible(conn, _options.max_replica_lag_ms)  # the pacing can read the standbys' lag
                problems = rollout.preflight(conn, fk)
                if not olds:  # new to this stack: another stack of this database may own it (fkguard.ownership)
                    ownership.refuse_foreign(conn, fk, news.get("stack"), f"checking {fk.name}")
                # Shown by `pulumi preview --diff`: the statements and the locks they take, before they run.
                deferral_only = bool(olds) and not changed(olds, news, REPLACE_ON) and bool(changed(olds, news, ALTER_ON))
                plan = AlterDeferral(fk, _policy()) if deferral_only else CreateConstraint(
                    fk, _policy(), news["validated"], news.get("stack"))
                inputs["plannedSql"] = plan.plan_sql(conn)
        except EXPECTED as exc:
            at = "constraintName" if isinstance(exc, ownership.OwnedElsewhere) else "table"
            return dynamic.CheckResult(inputs, [dynamic.CheckFailure(at, describe(exc))])
        return dynamic.CheckResult(
            resource_properties.with_preflight(inputs, problems),
            [dynamic.CheckFailure(PROPERTY_OF.get(p.field, p.field), p.message) for p in problems],
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        # A property an older fkguard never recorded counts as its default: an upgrade alone changes nothing.
        replaces = changed(olds, news, REPLACE_ON)
        altering = changed(olds, news, ALTER_ON)
        # PostgreSQL cannot un-validate: validated going back to false changes nothing.
        validating = bool(news.get("validated")) and not olds.get("convalidated", olds.get("validated"))
        retiered = olds.get("tier") != news.get("tier")
        return dynamic.DiffResult(
            changes=bool(replaces or altering or validating or retiered or identity.to_record(olds, news)),
            replaces=replaces,
            delete_before_replace=True,  # the name is fixed: the old one must go first
        )

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        fk = to_foreign_key(props)
        with _one_at_a_time, _connect(f"adding {fk.name}", fk) as conn:
            database = guarded(conn, {}, props, f"adding {fk.name}")
            outcome = CreateConstraint(fk, _policy(), bool(props.get("validated")), props.get("stack")).run(conn)
        return dynamic.CreateResult(f"{fk.table}/{fk.name}",
                                    _outputs(fk, props.get("validated", False), outcome, database, props.get("stack")))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        fk = to_foreign_key(news)
        with _one_at_a_time, _connect(f"updating {fk.name}", fk) as conn:
            database = guarded(conn, olds, news, f"updating {fk.name}")
            found = rollout.read(conn, fk)
            if found is None and identity.moved(olds, news):
                # The stack was moved on purpose (fkguard:rebindDatabase) to a database without this key: add it there.
                outcome = CreateConstraint(fk, _policy(), bool(news.get("validated")), news.get("stack")).run(conn)
                return dynamic.UpdateResult(_outputs(fk, news.get("validated", False), outcome, database, news.get("stack")))
            if found is None:
                raise rollout.RolloutError(
                    f"{fk.name} is missing from {fk.table}: it was dropped outside Pulumi. "
                    f"Run pulumi refresh, then pulumi up to add it again", constraint=fk.name
                )
            outcome = ConstraintOutcome(exists=True, validated=found.validated, definition=found.definition)
            if (found.deferrable, found.initially_deferred) != (fk.deferrable, fk.initially_deferred):
                outcome = AlterDeferral(fk, _policy()).run(conn)
            if news.get("validated") and not found.validated:
                outcome = Validate(fk, _policy(), ran=outcome.sql).run(conn)
        return dynamic.UpdateResult(_outputs(fk, news.get("validated", False), outcome, database, news.get("stack")))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        fk = to_foreign_key(props)
        with _one_at_a_time, _connect(f"dropping {fk.name}", fk) as conn:
            guarded(conn, props, props, f"dropping {fk.name}")
            ownership.refuse_foreign(conn, fk, props.get("stack"), f"dropping {fk.name}")
            DropConstraint(fk, _policy()).run(conn)

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        fk = to_foreign_key(props)
        with _connect(f"reading {fk.name}", fk) as conn:
            # Before anything is read: a refresh against another database would rewrite the state to match it.
            database = guarded(conn, props, props, f"refreshing {fk.name}")
            found = rollout.read(conn, fk)
        if found is None:
            return dynamic.ReadResult(None, {})
        if found.contype != "f" or found.references is None:
            raise rollout.RolloutError(
                f"{fk.table} has a constraint named {fk.name} that is not a foreign key ({found.definition}); "
                f"rename or drop it", constraint=fk.name
            )
        actual = found.as_foreign_key(fk.tier)
        outcome = ConstraintOutcome(exists=True, validated=found.validated, definition=found.definition,
                                   sql=list(props.get("sql") or []))
        return dynamic.ReadResult(id_, _outputs(actual, found.validated, outcome, database, props.get("stack")),
                                  {**inputs_of(actual, found.validated), "stack": props.get("stack"),
                                   identity.PROPERTY: database})


class ForeignKeyConstraint(dynamic.Resource, module=MODULE, name=TYPE_NAME):
    """A foreign key rolled out the safe way; its outputs say what PostgreSQL has."""

    if TYPE_CHECKING:  # for the type checker only: class annotations cost the SDK a get_type_hints per resource
        convalidated: pulumi.Output[bool]
        definition: pulumi.Output[str]
        state: pulumi.Output[str]
        sql: pulumi.Output[list]

    def __init__(self, fk: ForeignKey, validated: bool, opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            **inputs_of(fk, validated),
            "stack": pulumi.get_stack(),  # for the identity guard's messages: the provider's process does not know it
            "convalidated": None,
            "definition": None,
            "state": None,
            "sql": None,
        }
        # Named by its label: the constraint's name, or schema.table.name where the catalog shares the name.
        super().__init__(ForeignKeyConstraintProvider(), fk.label, props, opts)
