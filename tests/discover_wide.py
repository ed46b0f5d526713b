"""A generated schema for discover's cost at size (`python -m bench.discover shapes:wide`): 400 tables, about
2,000 columns, the keys named the ways real schemas name them, and the traps of serial ids.

Deterministic (one seed). Each table has a serial `id`, a name, one to three keys to tables made before it, and
integers that fall inside every table's ids without being keys (positions, counts, years less 1900, sizes).
The keys are named as issue 22 found them in real schemas, in about these shares: `<parent>_id` (45%), the
parent's name alone (15%), a role then the parent (`billing_<parent>_id`, 10%), the last word of a parent named
`<table>_<word>` (`status` -> `order_status`, 5%), a person's role to the people table (`owner_id`, `created_by`,
5%), a self-reference (`parent_id`, 5%), the two ends of a link table (`<a>_id`, `<b>_id`, 15% of tables).
A key column is NULL in about one row in ten, and points at a parent row otherwise.
"""

from __future__ import annotations

import random

from psycopg import sql

WIDE = "wide"
TABLES = 400
SEED = 22

_NOUNS = ("account", "region", "product", "purchase", "invoice", "shipment", "carrier", "warehouse", "supplier",
          "contract", "project", "task", "ticket", "device", "sensor", "reading", "campaign", "channel", "lead",
          "store", "course", "lesson", "room", "booking", "vehicle", "route", "driver", "claim", "policy", "asset",
          "budget", "ledger", "payment", "refund", "coupon", "review", "article", "topic", "release", "build")
_WORDS = ("type", "status", "kind", "grade", "stage", "source", "category", "level")
_ROLES = ("billing", "shipping", "primary", "backup", "origin", "target", "parent_org", "home")
_PEOPLE_ROLES = ("owner_id", "created_by", "approved_by", "assignee_id", "reviewer_id")
_TRAPS = ("position", "quantity", "year_offset", "size", "rank", "attempts", "width")


def _names() -> list[str]:
    """400 distinct table names: the nouns, then noun_word lookups, then noun_noun pairs."""
    names = ["person", *_NOUNS]
    names += [f"{n}_{w}" for n in _NOUNS for w in _WORDS[:3]]
    names += [f"{a}_{b}" for a in _NOUNS for b in _NOUNS if a != b]
    return names[:TABLES]


def generate(seed: int = SEED) -> tuple[sql.Composed, set[tuple[str, tuple[str, ...], str, tuple[str, ...]]]]:
    """The SQL (tables, rows, ANALYZE) and the keys meant, as (table, columns, parent, parent columns)."""
    rng = random.Random(seed)
    names = _names()
    rows = {name: rng.randint(20, 300) for name in names}
    schema = sql.Identifier(WIDE)
    ddl = [sql.SQL("CREATE SCHEMA {}").format(schema), sql.SQL("SET search_path = {}").format(schema)]
    fill: list[sql.Composable] = []
    truth = set()
    for i, table in enumerate(names):
        keys = _keys(rng, table, names[:i], names) if i else []
        traps = rng.sample(_TRAPS, 2)
        columns = [sql.SQL("id serial PRIMARY KEY"), sql.SQL("name text NOT NULL"),
                   *(sql.SQL("{} int").format(sql.Identifier(c)) for c, _ in keys),
                   *(sql.SQL("{} int NOT NULL").format(sql.Identifier(t)) for t in traps)]
        ddl.append(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(table), sql.SQL(", ").join(columns)))
        values: list[sql.Composable] = [sql.SQL("'n' || g")]
        for column, parent in keys:
            values.append(sql.SQL("CASE WHEN g % 10 = 3 THEN NULL ELSE 1 + (g * {}) % {} END").format(
                sql.Literal(rng.randint(3, 97)), sql.Literal(rows[parent])))
            truth.add((table, (column,), parent, ("id",)))
        values += [sql.SQL("1 + g % {}").format(sql.Literal(rng.randint(5, 60))) for _ in traps]
        filled = [sql.Identifier(c) for c in ("name", *(c for c, _ in keys), *traps)]
        fill.append(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM generate_series(1, {}) g").format(
            sql.Identifier(table), sql.SQL(", ").join(filled), sql.SQL(", ").join(values), sql.Literal(rows[table])))
    return sql.SQL(";\n").join([*ddl, *fill, sql.SQL("ANALYZE")]), truth


def _keys(rng: random.Random, table: str, earlier: list[str], names: list[str]) -> list[tuple[str, str]]:
    """One to three keys to earlier tables (a link table: its two ends), each named in one of the real styles."""
    words = table.split("_")
    if len(words) == 2 and all(w in names for w in words) and rng.random() < 0.3:
        return [(f"{words[0]}_id", words[0]), (f"{words[1]}_id", words[1])]
    keys: list[tuple[str, str]] = []
    for _ in range(rng.choice((1, 1, 2, 2, 3))):
        style = rng.random()
        lookups = [n for n in earlier if n.startswith(words[0] + "_") and n.rsplit("_", 1)[1] in _WORDS]
        if style < 0.05 and lookups:
            parent = rng.choice(lookups)
            column = parent.rsplit("_", 1)[1]
        elif style < 0.10:
            parent, column = "person", rng.choice(_PEOPLE_ROLES)
        elif style < 0.15:
            parent, column = table, "parent_id"
        else:
            parent = rng.choice(earlier)
            if style < 0.60:
                column = f"{parent}_id"
            elif style < 0.75:
                column = parent
            else:
                column = f"{rng.choice(_ROLES)}_{parent}_id"
        if column in (c for c, _ in keys) or column in ("id", "name"):
            continue
        keys.append((column, parent))
    return keys


WIDE_SQL, WIDE_TRUTH = generate()
