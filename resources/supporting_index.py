"""SupportingIndex: the index on a foreign key's referencing columns, as a Pulumi resource the foreign
key depends on (fkguard.operations' BuildIndex and DropIndex do the work).

create = adopt a valid index that leads with the columns (recorded as not fkguard's), or build fkguard's
own CONCURRENTLY; update = rebuild one found INVALID; delete = drop it only if fkguard built it; read =
what pg_index says (gone, or INVALID), so `pulumi refresh` shows the truth.

Connection settings, options and the one-DDL-at-a-time lock are the foreign key provider's: the same
stack config, and an index build must not run beside an ALTER TABLE of the same deployment (each would
wait for the other's lock). Pickled by reference like that provider: keep this module path and class name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg
import pulumi
from pulumi import dynamic

from fkguard import indexes, locks, replicas, rollout
from fkguard.catalog import ForeignKey, QualifiedName
from fkguard.operations import BuildIndex, DropIndex, IndexOutcome
from fkguard.stack import identity
from fkguard.stack.settings import SettingsError
from resources import foreign_key

TYPE_NAME = indexes.TYPE_NAME
RESOURCE_TYPE = indexes.RESOURCE_TYPE
# The index's identity: another table or other columns is another index (built before the old one goes).
REPLACE_ON = ("table", "columns")


def _wanted(props: dict[str, Any]) -> indexes.Wanted:
    return indexes.Wanted(QualifiedName.parse(str(props["table"])), tuple(props["columns"]))


# Inputs the outputs need not repeat: the SDK adds the provider itself, and the plan is the preview's (its inputs
# keep it; what ran is `sql`). The file backend rewrites the whole state after every step, so each byte per
# resource is paid twice per resource per `up`.
_NOT_OUTPUTS = ("__provider", "plannedSql")


def _outputs(props: dict[str, Any], outcome: IndexOutcome, database: dict[str, Any]) -> dict[str, Any]:
    return {**{k: v for k, v in props.items() if k not in _NOT_OUTPUTS}, identity.PROPERTY: database,
            "indexName": outcome.name, "ours": outcome.ours,
            "valid": outcome.valid, "state": outcome.state, "definition": outcome.definition, "sql": outcome.sql}


def _served(props: dict[str, Any]) -> str:
    """The constraints this index serves, as a refusal names them."""
    return ", ".join(str(c) for c in props.get("constraints") or []) or str(props.get("table"))


def _working(conn: psycopg.Connection, planned: list[str], what: str) -> psycopg.Connection:
    """Where a step's statements run: a concurrent build or drop needs a session of its own (fkguard.stack.pooler),
    anything else runs on the stack's connection like every other step."""
    return foreign_key.session_connection(conn, what) if locks.needs_session(planned) else conn


class SupportingIndexProvider(dynamic.ResourceProvider):
    def configure(self, req: dynamic.ConfigureRequest) -> None:
        foreign_key.ForeignKeyConstraintProvider().configure(req)

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        table, columns = news.get("table"), news.get("columns")
        if not isinstance(table, str) or not table or not isinstance(columns, list) or not columns:
            return dynamic.CheckResult(news, [dynamic.CheckFailure("columns", "a supporting index needs a table and "
                                                                              "its columns; fix the catalog entry")])
        try:
            with foreign_key._connect(f"checking the index on {table}", _served(news)) as conn:  # noqa: SLF001 (one connection per thread)
                database = foreign_key.guarded(conn, olds, news, f"checking the index on {table}")
                replicas.check_visible(conn, foreign_key._options.max_replica_lag_ms)  # noqa: SLF001
                # Shown by `pulumi preview --diff`: the statements and the locks they take, before they run.
                planned = BuildIndex(_wanted(news), foreign_key._policy()).plan_sql(conn)  # noqa: SLF001
                # Refused here, at preview, when only a session could run it and the connection cannot give one.
                _working(conn, planned, f"building the index {_wanted(news).name} on {table}")
        except (SettingsError, rollout.RolloutError, identity.IdentityMismatch, replicas.ReplicaLagError) as exc:
            return dynamic.CheckResult(news, [dynamic.CheckFailure("table", str(exc))])
        return dynamic.CheckResult({**news, "plannedSql": planned, identity.PROPERTY: database}, [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        replaces = [key for key in REPLACE_ON if olds.get(key) != news.get(key)]
        # An index refresh found INVALID (or an adopted one gone invalid) is rebuilt in place.
        repair = olds.get("state") not in (None, "valid")
        return dynamic.DiffResult(changes=bool(replaces) or repair or identity.to_record(olds, news), replaces=replaces,
                                  delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        wanted = _wanted(props)
        with foreign_key._one_at_a_time, foreign_key._connect(f"indexing {wanted.table}", _served(props)) as conn:  # noqa: SLF001
            database = foreign_key.guarded(conn, {}, props, f"indexing {wanted.table}")
            build = BuildIndex(wanted, foreign_key._policy())  # noqa: SLF001
            outcome = build.run(_working(conn, build.plan_sql(conn), f"building the index {wanted.name} on {wanted.table}"))
        return dynamic.CreateResult(f"{wanted.table.schema}.{outcome.name}", _outputs(props, outcome, database))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        wanted = _wanted(news)
        with foreign_key._one_at_a_time, foreign_key._connect(f"indexing {wanted.table}", _served(news)) as conn:  # noqa: SLF001
            database = foreign_key.guarded(conn, olds, news, f"indexing {wanted.table}")
            found = indexes.read(conn, wanted.table.schema, str(olds.get("indexName") or wanted.name))
            if found is not None and found.valid:
                outcome = IndexOutcome(found.name, bool(olds.get("ours")), True, found.definition)
            else:
                build = BuildIndex(wanted, foreign_key._policy())  # noqa: SLF001
                outcome = build.run(_working(conn, build.plan_sql(conn),
                                             f"building the index {wanted.name} on {wanted.table}"))
        return dynamic.UpdateResult(_outputs(news, outcome, database))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        wanted = _wanted(props)
        with foreign_key._one_at_a_time, foreign_key._connect(f"dropping the index on {wanted.table}", _served(props)) as conn:  # noqa: SLF001
            foreign_key.guarded(conn, props, props, f"dropping the index on {wanted.table}")
            name = str(props.get("indexName") or wanted.name)
            drop = DropIndex(wanted.table.schema, name, wanted, bool(props.get("ours")), foreign_key._policy())  # noqa: SLF001
            drop.run(_working(conn, drop.plan_sql(conn), f"dropping the index {name} on {wanted.table}"))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        wanted = _wanted(props)
        with foreign_key._connect(f"reading the index on {wanted.table}", _served(props)) as conn:  # noqa: SLF001
            database = foreign_key.guarded(conn, props, props, f"refreshing the index on {wanted.table}")
            found = indexes.read(conn, wanted.table.schema, str(props.get("indexName") or wanted.name))
        if found is None:  # gone: the next up adopts another or builds fkguard's again
            return dynamic.ReadResult(None, {})
        outcome = IndexOutcome(found.name, bool(props.get("ours")), found.valid, found.definition,
                               list(props.get("sql") or []))
        inputs: dict[str, Any] = {k: props[k] for k in ("table", "columns", "constraints", "plannedSql", "stack")
                                  if k in props}
        return dynamic.ReadResult(id_, _outputs(props, outcome, database), {**inputs, identity.PROPERTY: database})


class SupportingIndex(dynamic.Resource, module=foreign_key.MODULE, name=TYPE_NAME):
    """The index a foreign key's parent-side checks need; its outputs say which index serves and whose it is."""

    if TYPE_CHECKING:  # for the type checker only: class annotations cost the SDK a get_type_hints per resource
        indexName: pulumi.Output[str]  # noqa: N815 (the property's name in the state)
        ours: pulumi.Output[bool]
        valid: pulumi.Output[bool]
        state: pulumi.Output[str]
        sql: pulumi.Output[list]

    def __init__(self, fk: ForeignKey, constraints: list[str], opts: pulumi.ResourceOptions | None = None) -> None:
        wanted = indexes.Wanted(fk.table, fk.columns)
        props: dict[str, Any] = {"table": str(fk.table), "columns": list(fk.columns), "constraints": constraints,
                                 "stack": pulumi.get_stack(),
                                 "indexName": None, "ours": None, "valid": None, "state": None, "definition": None,
                                 "sql": None}
        super().__init__(SupportingIndexProvider(), f"{fk.table}/{wanted.name}", props, opts)
