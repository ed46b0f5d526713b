"""What the database says: a foreign key as pg_constraint records it, and the facts about the
tables that decide whether one can be added."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from fkguard import ddl
from fkguard.catalog import ForeignKey, QualifiedName

ACTION_CODES = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
MATCH_CODES = {"s": "SIMPLE", "f": "FULL", "p": "PARTIAL"}

_CONSTRAINT = """
SELECT c.contype, c.convalidated, pg_get_constraintdef(c.oid),
       rn.nspname, rt.relname,
       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
       ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i),
       c.confdeltype, c.confupdtype, c.confmatchtype
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_class rt ON rt.oid = c.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rt.relnamespace
WHERE n.nspname = %s AND t.relname = %s AND c.conname = %s
"""


@dataclass(frozen=True)
class LiveConstraint:
    """A constraint of the given name on the given table, as PostgreSQL has it."""

    name: str
    table: QualifiedName
    contype: str
    validated: bool
    definition: str
    references: QualifiedName | None
    columns: tuple[str, ...]
    referenced_columns: tuple[str, ...]
    on_delete: str | None
    on_update: str | None
    match: str | None

    def same_as(self, fk: ForeignKey) -> bool:
        """Is this the foreign key the catalog describes (validation state aside)?"""
        return (
            self.contype == "f"
            and self.references == fk.references
            and self.columns == fk.columns
            and self.referenced_columns == fk.referenced_columns
            and self.on_delete == fk.on_delete
            and self.on_update == fk.on_update
            and self.match == fk.match
        )

    def as_foreign_key(self, tier: str) -> ForeignKey:
        assert self.references is not None, "only a foreign key converts"
        return ForeignKey(
            name=self.name, tier=tier, table=self.table, columns=self.columns, references=self.references,
            referenced_columns=self.referenced_columns, on_delete=self.on_delete or "NO ACTION",
            on_update=self.on_update or "NO ACTION", match=self.match or "SIMPLE",
        )


def read_constraint(conn: psycopg.Connection, table: QualifiedName, name: str) -> LiveConstraint | None:
    row = conn.execute(_CONSTRAINT, (table.schema, table.name, name)).fetchone()
    if row is None:
        return None
    contype, validated, definition, ref_schema, ref_name, cols, ref_cols, deltype, updtype, matchtype = row
    return LiveConstraint(
        name=name, table=table, contype=contype, validated=bool(validated), definition=definition,
        references=QualifiedName(ref_schema, ref_name) if ref_name else None,
        columns=tuple(cols), referenced_columns=tuple(ref_cols),
        on_delete=ACTION_CODES.get(deltype), on_update=ACTION_CODES.get(updtype), match=MATCH_CODES.get(matchtype),
    )


def table_exists(conn: psycopg.Connection, table: QualifiedName) -> bool:
    return conn.execute(
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
        (table.schema, table.name),
    ).fetchone() is not None


# Does an index start with exactly these columns, in any order (a btree serves either)?
_LEADING = ("SELECT 1 FROM pg_index i WHERE i.indrelid = %s::regclass AND i.indpred IS NULL AND "
            "(SELECT array_agg(a.attname::text ORDER BY a.attname) FROM unnest((i.indkey::int2[])[0:%s - 1]) k(n) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n) = %s")


def has_leading_index(conn: psycopg.Connection, fk: ForeignKey) -> bool:
    """Whether some index starts with the referencing columns (what ON DELETE checks and joins need)."""
    table = ddl.table_ref(fk.table).as_string(conn)
    return conn.execute(_LEADING, (table, len(fk.columns), sorted(fk.columns))).fetchone() is not None


# A primary key or unique constraint over exactly these columns, in any order: what PostgreSQL
# requires of the referenced side (a partial or expression index does not count).
_UNIQUE = ("SELECT 1 FROM pg_index i WHERE i.indrelid = %s::regclass AND i.indisunique AND i.indpred IS NULL "
           "AND i.indexprs IS NULL AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a "
           "WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = %s")


def has_unique_key(conn: psycopg.Connection, table: QualifiedName, columns: tuple[str, ...]) -> bool:
    regclass = ddl.table_ref(table).as_string(conn)
    return conn.execute(_UNIQUE, (regclass, sorted(columns))).fetchone() is not None
