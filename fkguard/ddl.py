"""The statements fkguard runs, composed only with psycopg.sql: every name an Identifier, every
action a keyword from a fixed list."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from psycopg import sql

from fkguard.catalog import ACTIONS, COLUMN_LIST_ACTIONS, MATCHES, MAX_IDENTIFIER_BYTES, ForeignKey, QualifiedName


def table_ref(name: QualifiedName) -> sql.Identifier:
    return sql.Identifier(name.schema, name.name)


def _columns(columns: tuple[str, ...]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


def _keyword(value: str, allowed: tuple[str, ...]) -> sql.SQL:
    if value not in allowed:  # the catalog refuses these first; this guards the SQL itself
        raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
    return sql.SQL(value)


def _deferrable(fk: ForeignKey) -> sql.SQL:
    if fk.initially_deferred and not fk.deferrable:  # the catalog refuses it first, as PostgreSQL would
        raise ValueError(f"{fk.name}: INITIALLY DEFERRED needs DEFERRABLE")
    if not fk.deferrable:
        return sql.SQL("NOT DEFERRABLE")
    return sql.SQL("DEFERRABLE INITIALLY DEFERRED" if fk.initially_deferred else "DEFERRABLE INITIALLY IMMEDIATE")


def add_not_valid(fk: ForeignKey) -> sql.Composed:
    """ADD … NOT VALID: a brief SHARE ROW EXCLUSIVE lock on both tables and no scan."""
    return _add(fk, not_valid=True)


def add_attaching(fk: ForeignKey) -> sql.Composed:
    """ADD without NOT VALID, for a partitioned table before PostgreSQL 18 once every partition holds an
    identical validated constraint: PostgreSQL attaches those instead of scanning (fkguard.partitions)."""
    return _add(fk, not_valid=False)


def _add(fk: ForeignKey, *, not_valid: bool) -> sql.Composed:
    """ADD CONSTRAINT … FOREIGN KEY.

    Clauses in PostgreSQL's own order, each only when it differs from the default, so the statement
    reads like pg_get_constraintdef:
    REFERENCES t (cols) [MATCH FULL] ON DELETE x [(cols)] [ON UPDATE y] [DEFERRABLE [INITIALLY DEFERRED]] NOT VALID
    """
    parts: list[sql.Composable] = [
        sql.SQL("ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({cols}) REFERENCES {ref} ({refcols})").format(
            table=table_ref(fk.table), name=sql.Identifier(fk.name), cols=_columns(fk.columns),
            ref=table_ref(fk.references), refcols=_columns(fk.referenced_columns),
        )
    ]
    if _keyword(fk.match, MATCHES) and fk.match == "FULL":  # SIMPLE is PostgreSQL's default
        parts.append(sql.SQL("MATCH FULL"))
    parts.append(sql.SQL("ON DELETE {}").format(_keyword(fk.on_delete, ACTIONS)))
    if fk.on_delete_columns:
        _keyword(fk.on_delete, COLUMN_LIST_ACTIONS)
        parts.append(sql.SQL("({})").format(_columns(fk.on_delete_columns)))
    if fk.on_update != "NO ACTION":
        parts.append(sql.SQL("ON UPDATE {}").format(_keyword(fk.on_update, ACTIONS)))
    if fk.deferrable or fk.initially_deferred:
        parts.append(_deferrable(fk))
    if not_valid:
        parts.append(sql.SQL("NOT VALID"))
    return sql.SQL(" ").join(parts)


def alter_deferrable(fk: ForeignKey) -> sql.Composed:
    """ALTER CONSTRAINT … [NOT] DEFERRABLE: only the deferral changes, so the constraint stays validated
    and no window opens without it (a drop and add would). PostgreSQL 15 takes ACCESS EXCLUSIVE on the
    table for it (measured in pg_locks), for a catalog update only: run it under locks.run_locked."""
    return sql.SQL("ALTER TABLE {table} ALTER CONSTRAINT {name} {when}").format(
        table=table_ref(fk.table), name=sql.Identifier(fk.name), when=_deferrable(fk))


def validate(fk: ForeignKey) -> sql.Composed:
    """VALIDATE: SHARE UPDATE EXCLUSIVE on the table, ROW SHARE on the referenced one: writes go on."""
    return sql.SQL("ALTER TABLE {table} VALIDATE CONSTRAINT {name}").format(
        table=table_ref(fk.table), name=sql.Identifier(fk.name)
    )


def drop(fk: ForeignKey) -> sql.Composed:
    """DROP: ACCESS EXCLUSIVE on the table, so it needs the same lock protection as ADD."""
    return sql.SQL("ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}").format(
        table=table_ref(fk.table), name=sql.Identifier(fk.name)
    )


# Transaction-local settings, so they hold behind PgBouncer in transaction mode too.
SET_LOCAL = sql.SQL("SELECT set_config('lock_timeout', {lock}, true), set_config('statement_timeout', {stmt}, true)")


def set_local_timeouts(lock_timeout_ms: int, statement_timeout_ms: int) -> sql.Composed:
    return SET_LOCAL.format(lock=sql.Literal(f"{lock_timeout_ms}ms"), stmt=sql.Literal(f"{statement_timeout_ms}ms"))


def _name_within_limit(*parts: str) -> str:
    """A generated name PostgreSQL will not cut: at most MAX_IDENTIFIER_BYTES, the limit the catalog checks too."""
    name = "_".join(parts)
    while len(name.encode()) > MAX_IDENTIFIER_BYTES:
        name = name[:-1]
    return name


def index_name(table: QualifiedName, columns: Sequence[str]) -> str:
    """fkguard's name for the index on these columns of this table: <table>_<columns>_idx; one longer than
    63 bytes is cut and ends in 8 hex digits of the whole name's SHA-256 instead, so that two long column
    lists of one table that share their first 54 bytes never get the same name."""
    full = "_".join((table.name, *columns, "idx"))
    if len(full.encode()) <= 63:
        return full
    return _name_within_limit(_name_within_limit(full)[:-9], hashlib.sha256(full.encode()).hexdigest()[:8])


# The name a table's (not a partitioned table's) index is built under, until it is marked and renamed in one
# transaction: a build the client died in may still finish in PostgreSQL, and this name is how a later run tells
# that valid index for fkguard's own unfinished build rather than one of the schema's (fkguard's final name is
# PostgreSQL's default name for such an index, so it proves nothing).
BUILDING_PREFIX = "fkguard_building_"


def building_name(table: QualifiedName, columns: Sequence[str]) -> str:
    whole = f"{table.schema}.{table.name}({','.join(columns)})"
    return BUILDING_PREFIX + hashlib.sha256(whole.encode()).hexdigest()[:24]


def build_index(name: str, table: QualifiedName, columns: Sequence[str]) -> sql.Composed:
    return sql.SQL("CREATE INDEX CONCURRENTLY {name} ON {table} ({cols})").format(
        name=sql.Identifier(name), table=table_ref(table), cols=_columns(tuple(columns)))


def rename_index(schema: str, name: str, to: str) -> sql.Composed:
    """ALTER INDEX … RENAME: SHARE UPDATE EXCLUSIVE on the index alone (PostgreSQL 12 and later)."""
    return sql.SQL("ALTER INDEX {index} RENAME TO {to}").format(index=sql.Identifier(schema, name),
                                                              to=sql.Identifier(to))


def index_on_only(table: QualifiedName, columns: Sequence[str], *, if_not_exists: bool = False) -> sql.Composed:
    """The index of a partitioned table itself: a catalog entry, no build (invalid until every partition's
    index is attached; valid at once when it has no partition)."""
    return sql.SQL("CREATE INDEX {exists}{name} ON ONLY {table} ({cols})").format(
        exists=sql.SQL("IF NOT EXISTS " if if_not_exists else ""), name=sql.Identifier(index_name(table, columns)),
        table=table_ref(table), cols=_columns(tuple(columns)))


def attach_index(parent: QualifiedName, child: QualifiedName, columns: Sequence[str]) -> sql.Composed:
    return sql.SQL("ALTER INDEX {index} ATTACH PARTITION {child}").format(
        index=sql.Identifier(parent.schema, index_name(parent, columns)),
        child=sql.Identifier(child.schema, index_name(child, columns)))


def index_steps(table: QualifiedName, columns: Sequence[str],
                tree: Sequence[tuple[QualifiedName, QualifiedName, bool]] = ()) -> list[sql.Composed]:
    """The index that keeps ON DELETE checks and joins on the referencing columns from scanning, one
    statement per step (each CONCURRENTLY one must be sent on its own, outside any transaction block).

    A partitioned table refuses CREATE INDEX CONCURRENTLY ("cannot create index on partitioned table
    concurrently"), so given its partition tree ((partition, its parent, is it a leaf) for each,
    fkguard.partitions.tree) the plan is: each leaf's index CONCURRENTLY; then, deepest level first,
    an index ON ONLY each partitioned table (a catalog entry, made invalid, no build) and ALTER INDEX …
    ATTACH PARTITION of each child's; the last attach makes each one valid."""
    cols = _columns(tuple(columns))
    steps = [sql.SQL("CREATE INDEX CONCURRENTLY {name} ON {table} ({cols})").format(
        name=sql.Identifier(index_name(leaf, columns)), table=table_ref(leaf), cols=cols)
        for leaf, _, is_leaf in (tree or [(table, table, True)]) if is_leaf]
    if not tree:
        return steps
    inner = [node for node, _, is_leaf in tree if not is_leaf]
    for node in [*reversed(inner), table]:  # pg_partition_tree lists shallowest first
        steps.append(index_on_only(node, columns))
        steps += [attach_index(node, child, columns) for child, parent, _ in tree if parent == node]
    return steps


def create_index_concurrently(fk: ForeignKey, tree: Sequence[tuple[QualifiedName, QualifiedName, bool]] = ()
                              ) -> sql.Composed:
    """index_steps for a foreign key's referencing columns, as one script (the policy's advice)."""
    return sql.SQL("; ").join(index_steps(fk.table, fk.columns, tree))


def drop_index(schema: str, name: str, *, concurrently: bool = True) -> sql.Composed:
    """DROP INDEX [CONCURRENTLY] IF EXISTS. A partitioned index refuses CONCURRENTLY: dropping it drops
    its attached partitions' too, under a brief ACCESS EXCLUSIVE lock (nothing is scanned)."""
    how = sql.SQL("CONCURRENTLY ") if concurrently else sql.SQL("")
    return sql.SQL("DROP INDEX {how}IF EXISTS {index}").format(how=how, index=sql.Identifier(schema, name))


def mark_index(schema: str, name: str, text: str) -> sql.Composed:
    """COMMENT ON INDEX: it takes SHARE UPDATE EXCLUSIVE on the index alone, which no read or write waits for."""
    return sql.SQL("COMMENT ON INDEX {index} IS {text}").format(index=sql.Identifier(schema, name), text=sql.Literal(text))


def add_unique(table: QualifiedName, columns: tuple[str, ...]) -> sql.Composed:
    """A unique constraint built from an index made without blocking writes."""
    index = sql.Identifier(_name_within_limit(table.name, *columns, "key"))
    return sql.SQL("CREATE UNIQUE INDEX CONCURRENTLY {index} ON {table} ({cols}); "
                   "ALTER TABLE {table} ADD CONSTRAINT {index} UNIQUE USING INDEX {index}").format(
        index=index, table=table_ref(table), cols=_columns(columns))


def alter_column_type(table: QualifiedName, column: str, type_name: str) -> sql.Composed:
    # type_name comes from format_type() of the referenced column, never from a user.
    return sql.SQL("ALTER TABLE {table} ALTER COLUMN {col} TYPE {type}").format(
        table=table_ref(table), col=sql.Identifier(column), type=sql.SQL(type_name))
