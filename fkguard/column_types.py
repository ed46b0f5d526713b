"""Can a referencing column's type work with its referenced column's, and how well?

The answer PostgreSQL itself gives when it adds a foreign key (ATAddForeignKeyConstraint in
tablecmds.c): it looks in the operator family of the referenced key's unique index for an
equality operator between the referenced type and the referencing one (integer against bigint
has one); failing that, it casts the referencing column implicitly to the index's type (varchar
to text); failing that, it refuses the key ("cannot be implemented"). Where the cast is a real
conversion (integer to numeric), every check casts the referencing column, so no plain index on
it can serve the lookups that parent deletes and key updates make.

One place for this answer: the column-types-match policy (refusals), column-types-align
(advice) and `fkguard verify` all read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from fkguard import ddl, introspect
from fkguard.catalog import ForeignKey
from fkguard.query_row import one

SAME = "same"              # the same type and modifiers
ALIGNED = "aligned"        # the same type, other length or precision (varchar(64) against varchar(128))
COMPATIBLE = "compatible"  # PostgreSQL compares them without casting the referencing column, indexes serve
CASTS = "casts"            # accepted, but every check casts the referencing column: its index cannot serve
REFUSED = "refused"        # PostgreSQL refuses the foreign key
UNJUDGED = "unjudged"      # no unique key over the referenced columns to judge against (referenced-key-unique)
BLOCKING = (CASTS, REFUSED)

# For each pair: the two types as shown, their base types (domains looked through, as PostgreSQL
# does), and the operator family and input type of the referenced key's unique index column.
_PAIR = """
WITH RECURSIVE
cols(side, rel, col) AS (VALUES ('fk', %(fk_rel)s::regclass, %(fk_col)s::text), ('pk', %(pk_rel)s::regclass, %(pk_col)s)),
att AS (SELECT c.side, a.atttypid, format_type(a.atttypid, a.atttypmod) AS shown, a.attnum, c.rel
        FROM cols c JOIN pg_attribute a ON a.attrelid = c.rel AND a.attname = c.col AND NOT a.attisdropped),
base(side, typ, depth) AS (SELECT side, atttypid, 0 FROM att
        UNION ALL SELECT b.side, t.typbasetype, b.depth + 1 FROM base b JOIN pg_type t ON t.oid = b.typ
        WHERE t.typtype = 'd'),
key_index AS (SELECT o.opcfamily, o.opcintype FROM att p JOIN pg_index i ON i.indrelid = p.rel
        AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
        AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
             WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = %(pk_cols)s::text[]
        JOIN pg_opclass o ON o.oid = i.indclass[array_position(i.indkey::int2[], p.attnum)]  -- both vectors start at 0
        WHERE p.side = 'pk' ORDER BY i.indisprimary DESC LIMIT 1)
SELECT (SELECT shown FROM att WHERE side = 'fk'), (SELECT shown FROM att WHERE side = 'pk'),
       (SELECT typ FROM base WHERE side = 'fk' ORDER BY depth DESC LIMIT 1),
       (SELECT typ FROM base WHERE side = 'pk' ORDER BY depth DESC LIMIT 1),
       (SELECT atttypid FROM att WHERE side = 'fk') = (SELECT atttypid FROM att WHERE side = 'pk'),
       k.opcfamily, k.opcintype, k.opcintype::regtype::text
FROM (SELECT 1) one LEFT JOIN key_index k ON true
"""

# An equality operator of the family between two types (btree strategy 3, hash strategy 1).
_EQUALITY = ("SELECT o.oid::regoperator::text FROM pg_amop a JOIN pg_operator o ON o.oid = a.amopopr "
             "JOIN pg_am m ON m.oid = a.amopmethod WHERE a.amopfamily = %s AND a.amoplefttype = %s "
             "AND a.amoprighttype = %s AND a.amopstrategy = CASE m.amname WHEN 'hash' THEN 1 ELSE 3 END")
# An implicit cast from one type to another: 'b' means binary coercible (no conversion at run time).
_IMPLICIT = "SELECT castmethod FROM pg_cast WHERE castsource = %s AND casttarget = %s AND castcontext = 'i'"


@dataclass(frozen=True)
class Pairing:
    column: str
    referenced: str
    mine: str     # the referencing column's type, as format_type shows it
    theirs: str   # the referenced column's
    verdict: str
    reason: str

    @property
    def blocking(self) -> bool:
        return self.verdict in BLOCKING


def _pair(conn: psycopg.Connection, fk: ForeignKey, column: str, referenced: str) -> Pairing | None:
    row = one(conn.execute(_PAIR, {
        "fk_rel": ddl.table_ref(fk.table).as_string(conn), "fk_col": column,
        "pk_rel": ddl.table_ref(fk.references).as_string(conn), "pk_col": referenced,
        "pk_cols": sorted(fk.referenced_columns)}))
    mine, theirs, fk_base, pk_base, same_oid, family, index_type, index_type_name = row
    if mine is None or theirs is None:
        return None  # a missing column: the provider's check names it
    verdict, reason = _verdict(conn, mine, theirs, fk_base, pk_base, same_oid, family, index_type, index_type_name)
    return Pairing(column, referenced, mine, theirs, verdict, reason)


def _verdict(conn, mine, theirs, fk_base, pk_base, same_oid, family, index_type, index_type_name) -> tuple[str, str]:
    if mine == theirs:
        return SAME, "the same type"
    if same_oid or fk_base == pk_base:
        return ALIGNED, "the same type with another length, precision or domain: both indexes serve the checks"
    if family is None:
        return UNJUDGED, "no unique key over the referenced columns to compare through"
    cross = conn.execute(_EQUALITY, (family, index_type, fk_base)).fetchone()
    own = conn.execute(_EQUALITY, (family, fk_base, fk_base)).fetchone()
    if cross and own:
        return COMPATIBLE, f"PostgreSQL compares them with {cross[0]}, and both indexes serve the checks"
    casts = [conn.execute(_IMPLICIT, (source, index_type)).fetchone() if source != index_type else ("b",)
             for source in (fk_base, pk_base)]
    if all(casts):
        if casts[0][0] == "b":
            return COMPATIBLE, f"{mine} is read as {index_type_name} without conversion, so both indexes serve the checks"
        return CASTS, (f"PostgreSQL accepts it but casts the referencing column to {index_type_name} in every check, "
                       f"so no index on it can serve the lookups that parent deletes and key updates make")
    return REFUSED, (f"PostgreSQL refuses it (\"foreign key constraint cannot be implemented\": no equality "
                     f"operator of the key's index takes {mine})")


def pairings(conn: psycopg.Connection, fk: ForeignKey) -> list[Pairing]:
    """Each referencing column against its referenced column, judged as PostgreSQL would (none when a
    table is missing: the provider's check names it)."""
    if not (introspect.table_exists(conn, fk.table) and introspect.table_exists(conn, fk.references)):
        return []
    found = [_pair(conn, fk, c, r) for c, r in zip(fk.columns, fk.referenced_columns, strict=True)]
    return [p for p in found if p is not None]
