"""`python -m bench.discover <schema.sql> ...`: `fkguard discover`'s precision, recall and time on real
schemas no one here wrote.

Each file is loaded into a database of its own on the local cluster (scripts/pg.sh's, or the one
FKGUARD_PGDATA / FKGUARD_PG_PORT name), as its project's SQL is: statements PostgreSQL refuses (an
extension this server lacks, what depends on it) are skipped and counted. Its foreign keys are the truth:
recorded, then dropped. Where the schema has no rows, rows that satisfy every one of those keys are
filled in (deterministic, 20 to 300 per table; serial ids start at 1 in every table, so they overlap as
in real data; other integers take small values that fall inside those ids). Then discover runs, read-only,
and its proposals are scored against the truth, with the misses and false positives by kind.

The schema files stay outside the project (fetch them from their public repositories); nothing of
them is written here but the table this prints.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

import psycopg
from psycopg import sql

from bench import discover_rollout
from fkguard import discover
from fkguard.discover import names as discover_names
from fkguard.stack.settings import ConnectionSettings
from fkguard_testing.scratch import PROJECT, local_env

# (schema.table, columns, schema.table, columns)
Relation = tuple[str, tuple[str, ...], str, tuple[str, ...]]

# Lines of a structure.sql this server cannot run, and what stands in for them.
_UNAVAILABLE_EXTENSIONS = ("pg_partman", "postgis", "timescaledb", "pg_stat_statements")
_GEOMETRY = re.compile(r"\bpublic\.(geometry|geography)(\([^)]*\))?", re.I)


def say(message: str) -> None:
    print(f"bench.discover: {message}", file=sys.stderr, flush=True)


def _settings(database: str) -> ConnectionSettings:
    env = local_env()
    return ConnectionSettings(host="127.0.0.1", port=int(env["FKGUARD_PG_PORT"]), database=database,
                              username=env["FKGUARD_PG_USER"], password=env["FKGUARD_LOCAL_DB_PASSWORD"])


def _superuser(statement: str) -> None:
    subprocess.run([str(PROJECT / "scripts" / "pg.sh"), "psql", "-d", "postgres", "-c", statement],
                   check=True, capture_output=True, text=True)


def prepare(text: str) -> tuple[str, list[str]]:
    """The file as this server can run it, and what was changed."""
    notes: list[str] = []
    out = []
    for line in text.splitlines():
        low = line.strip().lower()
        if low.startswith(("create database", "drop database", "\\c ", "\\connect")):
            continue
        if " owner to " in f" {low}" and low.startswith("alter "):
            continue  # the project's roles do not exist here; the loading user owns everything
        if any(e in low for e in _UNAVAILABLE_EXTENSIONS) and "extension" in low:
            notes.append(f"skipped: {line.strip()}")
            continue
        if _GEOMETRY.search(line):
            notes.append(f"geometry as text: {line.strip()}")
            line = _GEOMETRY.sub("text", line)
        out.append(line)
    return "\n".join(out) + "\n", notes


def load(paths: list[Path], database: str) -> tuple[int, list[str]]:
    """Create the database and run the files in it, in order; (statements refused, notes)."""
    env = local_env()
    owner = env["FKGUARD_PG_USER"]
    _superuser(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    _superuser(f'CREATE DATABASE "{database}" OWNER "{owner}"')
    text, notes = prepare("\n".join(p.read_text(errors="replace") for p in paths))
    psql = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"
    run = subprocess.run(
        [psql, "-X", "-q", "-h", "127.0.0.1", "-p", env["FKGUARD_PG_PORT"], "-U", owner, "-d", database,
         "-v", "ON_ERROR_STOP=0"], input=text, capture_output=True, text=True,
        env={**os.environ, "PGPASSWORD": env["FKGUARD_LOCAL_DB_PASSWORD"]}, check=False)
    errors = [line for line in run.stderr.splitlines() if "ERROR:" in line]
    notes += [f"refused: {e.split('ERROR:', 1)[1].strip()}" for e in errors[:8]]
    return len(errors), notes


# --- the truth, and rows that satisfy it ------------------------------------------------------------------

@dataclasses.dataclass
class Col:
    name: str
    type: str        # format_type
    typtype: str     # b, e (enum), d (domain), ...
    category: str    # pg_type.typcategory of the base type
    not_null: bool
    default: bool
    identity: str
    generated: bool
    length: int      # varchar/char length, or 0


def _schemas(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'partman') "
        "AND nspname NOT LIKE 'pg\\_%' AND EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = pg_namespace.oid "
        "AND c.relkind IN ('r', 'p')) ORDER BY 1")]


def truth(conn: psycopg.Connection, schemas: list[str]) -> list[tuple[str, str, Relation]]:
    """(table, constraint name, relation) of every foreign key in the schemas. A key declared on partitions
    is the partitioned table's (as discover sees it: partitions are not tables of their own)."""
    rows = conn.execute(
        "SELECT n.nspname || '.' || t.relname, c.conname, rn0.nspname || '.' || r0.relname, "
        "ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a "
        "ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i), rn.nspname || '.' || rt.relname, "
        "ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a "
        "ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i) "
        "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
        "JOIN pg_class r0 ON r0.oid = coalesce(pg_partition_root(c.conrelid), c.conrelid) "
        "JOIN pg_namespace rn0 ON rn0.oid = r0.relnamespace "
        "JOIN pg_class rt ON rt.oid = coalesce(pg_partition_root(c.confrelid), c.confrelid) "
        "JOIN pg_namespace rn ON rn.oid = rt.relnamespace "
        "WHERE c.contype = 'f' AND n.nspname = ANY(%s) AND c.conparentid = 0 ORDER BY 1, 2", (schemas,)).fetchall()
    return [(table, name, (child, tuple(cols), parent, tuple(rcols))) for table, name, child, cols, parent, rcols in rows]


def _columns(conn: psycopg.Connection, table: str) -> list[Col]:
    return [Col(*r) for r in conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typtype, "
        "coalesce(bt.typcategory, t.typcategory), a.attnotnull, a.atthasdef, a.attidentity, a.attgenerated <> '', "
        "CASE WHEN a.atttypmod > 4 AND coalesce(bt.typcategory, t.typcategory) = 'S' THEN a.atttypmod - 4 ELSE 0 END "
        "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type bt ON bt.oid = t.typbasetype "
        "AND t.typtype = 'd' WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (_regclass(table),))]


def _unique_sets(conn: psycopg.Connection, table: str) -> list[frozenset[str]]:
    """The column sets of the table's unique indexes."""
    return [frozenset(r[0]) for r in conn.execute(
        "SELECT ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey)) FROM pg_index i WHERE i.indrelid = %s::regclass AND i.indisunique",
        (_regclass(table),))]


def _ident(qualified: str) -> sql.Identifier:
    """schema.table (as the catalog spells it, unquoted) as an identifier."""
    schema, table = qualified.split(".", 1)
    return sql.Identifier(schema, table)


def _regclass(qualified: str) -> str:
    return _ident(qualified).as_string(None)


def _h(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode())


class Filler:
    """Each column's value as a SQL expression of the row number g (1..n): a key column's values are a
    function of g, so a child can point at its parent's row k before the parent has any rows."""

    def __init__(self, conn: psycopg.Connection, relations: list[Relation], tables: list[str]) -> None:
        self.conn = conn
        self.rows = {t: 20 + _h(t) % 281 for t in tables}
        self.cols = {t: {c.name: c for c in _columns(conn, t)} for t in tables}
        self.unique = {t: _unique_sets(conn, t) for t in tables}
        self.fk: dict[tuple[str, str], tuple[Relation, int]] = {}  # (table, column) -> (relation, position)
        for rel in sorted(relations, key=lambda r: -len(r[1])):  # a composite key decides its columns first
            for i, c in enumerate(rel[1]):
                self.fk.setdefault((rel[0], c), (rel, i))
        for rel in relations:  # a shared primary key (1:1): no more rows than the parent has
            if frozenset(rel[1]) in self.unique.get(rel[0], []) and rel[2] in self.rows and rel[0] in self.rows:
                self.rows[rel[0]] = min(self.rows[rel[0]], self.rows[rel[2]])

    def _pick(self, rel: Relation, g: str) -> str:
        child, cols, parent, _ = rel
        n = self.rows.get(parent, 1)
        if frozenset(cols) in self.unique.get(child, []):
            return g  # a shared key: row g of the child is row g of the parent
        return f"(1 + (({g}) * {1 + _h(child, *cols) % 7 * 2} + {_h(*cols) % 13}) % {n})"

    def value(self, table: str, column: str, g: str = "g", depth: int = 0) -> str | None:
        col = self.cols[table][column]
        found = self.fk.get((table, column))
        if found and depth < 12:
            rel, i = found
            inner = self.value(rel[2], rel[3][i], self._pick(rel, g), depth + 1)
            if inner is not None:
                return f"(CASE WHEN ({g}) % 5 = 4 THEN NULL ELSE {inner} END)" if not col.not_null else inner
        return self._base(table, col, g)

    def _base(self, table: str, col: Col, g: str) -> str | None:
        key = frozenset([col.name]) in self.unique[table]
        t, cat = col.type, col.category
        cast = f"::{t}"
        if col.typtype == "e":
            return f"(enum_range(NULL{cast}))[1 + ({g}) % cardinality(enum_range(NULL{cast}))]"
        if t.endswith("[]"):
            return f"'{{}}'{cast}"
        if t in ("smallint", "integer", "bigint") or (cat == "N" and t.startswith(("smallint", "integer", "bigint"))):
            if key:
                return f"({g}){cast}"
            words = discover_names.words(col.name)
            if "year" in words:
                return f"(1990 + ({g}) % 35){cast}"
            m = (5, 12, 31, 100, 250, 1000)[_h(table, col.name) % 6]
            return f"((({g}) * {1 + _h(table, col.name) % 17}) % {m}){cast}"
        if cat == "N":
            return f"((({g}) % 100) + 0.5){cast}"
        if t == "uuid":  # a key's uuids are its table's; another column's are of no table (its key was not declared)
            seed = table if key else f"{table}.{col.name}"
            return f"md5({sql.Literal(seed).as_string()} || ({g}))::uuid"
        if cat == "S":
            # Another table's texts are of another domain: `code` of add_ons is not `code` of taxes.
            text = f"{sql.Literal(f'{col.name[:6]}-{_h(table) % 997}-').as_string()} || ({g})"
            if col.length and col.length < 12:
                text = f"({g})::text" if key else f"left({sql.Literal(col.name).as_string()}, {col.length})"
            return f"({text}){cast}"
        if cat == "B":
            return f"(({g}) % 2 = 0){cast}"
        if cat == "D":
            return f"('2022-01-01'::timestamp + ({g}) * interval '7 hours'){cast}"
        if t == "tsvector":
            return "''::tsvector"
        if t in ("json", "jsonb"):
            return f"'{{}}'{cast}"
        if t == "inet" or t == "cidr":
            return f"('10.0.0.0'::inet + ({g})){cast}"
        if t == "bytea":
            return f"decode(md5(({g})::text), 'hex')"
        if t == "interval":
            return f"(({g}) * interval '1 minute')"
        return None

    def fill(self, table: str) -> str:
        cols = [c for c in self.cols[table].values() if not c.generated]
        names, values = [], []
        for c in cols:
            v = self.value(table, c.name)
            if v is None:
                if c.default or not c.not_null:
                    continue
                return f"no value for {c.name} ({c.type})"
            names.append(sql.Identifier(c.name))
            values.append(sql.SQL(v))
        overriding = sql.SQL(" OVERRIDING SYSTEM VALUE" if any(c.identity == "a" for c in cols) else "")
        query = sql.SQL("INSERT INTO {} ({}){} SELECT {} FROM generate_series(1, {}) g ON CONFLICT DO NOTHING").format(
            _ident(table), sql.SQL(", ").join(names), overriding, sql.SQL(", ").join(values), sql.Literal(self.rows[table]))
        try:
            with self.conn.transaction():
                self.conn.execute(query)
        except psycopg.Error as e:
            return str(e).splitlines()[0]
        return ""


def _one(conn: psycopg.Connection, query: sql.Composed) -> object:
    row = conn.execute(query).fetchone()
    return row[0] if row else None


def _orphan_filter(rel: Relation) -> sql.Composable:
    child, cols, parent, rcols = rel
    join = sql.SQL(" AND ").join(sql.SQL("p.{} = c.{}").format(sql.Identifier(r), sql.Identifier(k))
                                for k, r in zip(cols, rcols, strict=True))
    not_null = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(k)) for k in cols)
    return sql.SQL("{} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})").format(not_null, _ident(parent), join)


def repair(conn: psycopg.Connection, relations: list[Relation], cols: dict[str, dict[str, Col]]) -> int:
    """Rows a skipped insert left without a parent: their key set NULL where it may be, else the row
    deleted, until every key holds (a deleted parent can orphan its children). The rows changed."""
    changed = 0
    for _ in range(20):
        step = 0
        for rel in relations:
            child, keys = rel[0], rel[1]
            nullable = all(not cols[child][k].not_null for k in keys)
            target = sql.SQL(", ").join(sql.SQL("{} = NULL").format(sql.Identifier(k)) for k in keys)
            query = (sql.SQL("UPDATE {} c SET {} WHERE {}").format(_ident(child), target, _orphan_filter(rel))
                     if nullable else sql.SQL("DELETE FROM {} c WHERE {}").format(_ident(child), _orphan_filter(rel)))
            try:
                step += conn.execute(query).rowcount
            except psycopg.Error:
                conn.rollback()
        changed += step
        if not step:
            break
    return changed


# --- scoring ---------------------------------------------------------------------------------------------

def _bare(qualified: str) -> str:
    return qualified.split(".", 1)[1]


def kind(rel: Relation, pk: dict[str, tuple[str, ...]]) -> str:
    """What a true key's name looks like (the issue's kinds)."""
    child, cols, parent, _ = rel
    if len(cols) > 1:
        return "composite"
    if pk.get(child) == cols:
        return "shared primary key"
    words = discover_names.words(cols[0])
    stem = discover_names.stem(cols[0])
    if stem and discover_names.table_score(stem, _bare(parent)):
        return "*_id names the parent"
    pwords = discover_names.words(_bare(parent))
    singular = tuple(w[:-1] if w.endswith("s") else w for w in pwords)
    base = words[:-1] if words and words[-1] in ("id", "ref", "uuid", "code") else words
    if base in (pwords, singular):
        return "named like the parent, no _id"
    if child == parent:
        return "self-reference by role"
    if base and (pwords[-len(base):] == base or singular[-len(base):] == base):
        return "the parent's last word(s)"
    if base and len(base) > len(singular) and (base[-len(singular):] == singular or base[-len(pwords):] == pwords):
        return "role word + parent"
    if re.fullmatch(r"entity\d|.*[a-z]\d", cols[0].lower()):
        return "link-table role"
    return "role unrelated to the parent"


def score(found: discover.Discovery, true: set[Relation], pk: dict[str, tuple[str, ...]]) -> dict:
    proposed = {(str(c.table), tuple(c.columns), str(c.references), tuple(c.referenced_columns)) for c in found.proposed}
    hits = proposed & true
    true_columns = {(r[0], r[1]) for r in true}
    fp_kinds: Counter[str] = Counter()
    for p in proposed - true:
        if (p[0], p[1]) in true_columns:
            fp_kinds["wrong parent"] += 1
        elif p[0] == p[2] and p[1] == p[3]:
            fp_kinds["itself"] += 1
        else:
            fp_kinds["not a key" + (" (composite)" if len(p[1]) > 1 else "")] += 1
    miss_kinds = Counter(kind(r, pk) for r in true - proposed)
    return {"true": len(true), "proposed": len(proposed), "hits": len(hits),
            "precision": len(hits) / len(proposed) if proposed else 1.0, "recall": len(hits) / len(true) if true else 1.0,
            "fp": sorted(proposed - true), "missed": sorted(true - proposed), "fp_kinds": fp_kinds, "miss_kinds": miss_kinds,
            "keys": proposed}


def fixture(name: str) -> tuple[str, str, set[Relation]]:
    """One of tests/discover_shapes.py's schemas (shapes:shop, shapes:Studio, shapes:catalogue): its name, its
    SQL, and the keys its designer meant and did not declare."""
    from tests import discover_shapes as shapes

    prefix = name.upper()
    schema, text, true = getattr(shapes, prefix), getattr(shapes, f"{prefix}_SQL"), getattr(shapes, f"{prefix}_TRUTH")
    return schema, text, {(f"{schema}.{t}", tuple(c), f"{schema}.{p}", tuple(r)) for t, c, p, r in true}


def bench_fixture(arg: str, keep: bool, use_names: bool, use_data: bool, walk: bool = False) -> dict:
    schema, text, true = fixture(arg.split(":", 1)[1])
    name = "discover_bench_" + re.sub(r"\W+", "_", schema.lower())
    env = local_env()
    _superuser(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _superuser(f'CREATE DATABASE "{name}" OWNER "{env["FKGUARD_PG_USER"]}"')
    settings = _settings(name)
    started = time.monotonic()
    with settings.connect(autocommit=True) as conn:
        conn.execute(text)
    result = _run(settings, [schema], true, use_names, use_data)
    result.update(schema=f"{schema} (tests/discover_shapes.py)", total=time.monotonic() - started, refused=0, notes=[],
                  filled=0, failures=[], repaired=0)
    try:
        if walk:
            result["rollout"] = _rollout(settings, [schema], result["keys"])
    finally:
        if not keep:
            _superuser(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return result


def _rollout(settings: ConnectionSettings, schemas: list[str], keys: set[Relation]) -> list[discover_rollout.Step]:
    """--rollout: the catalog `fkguard discover` writes for the database, through the user's path (its steps)."""
    say(f"{settings.database}: rolling out the discovered catalog (stack {discover_rollout.STACK})")
    return discover_rollout.rollout(settings, schemas, keys)


SAMPLING: dict[str, int] = {}  # --sample-above / --sample-rows, when given


def _run(settings: ConnectionSettings, schemas: list[str], true: set[Relation], use_names: bool, use_data: bool) -> dict:
    with settings.connect(application_name="fkguard-discover") as conn:
        conn.execute("SET default_transaction_read_only = on")
        conn.execute("SET statement_timeout = '60s'")
        t0 = time.monotonic()
        switches: dict[str, object] = {k: v for k, v in (("use_names", use_names), ("use_data", use_data)) if not v}
        switches.update(SAMPLING)  # an older discover has neither switch; sampling as asked
        found = discover.discover(conn, schemas, progress=lambda _: None, **switches)
        seconds = time.monotonic() - t0
        pk = {f"{s}.{t}": tuple(cols) for s, t, cols in conn.execute(
            "SELECT n.nspname, c.relname, ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) k(n) JOIN "
            "pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n) FROM pg_index i JOIN pg_class c ON "
            "c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE i.indisprimary AND n.nspname = ANY(%s)",
            (schemas,))}
        tables = conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
                              "c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY(%s)", (schemas,)).fetchone()
    result = score(found, true, pk)
    # The catalog it writes must load as it is (names unique and at most 63 bytes, every field valid).
    import tempfile

    from fkguard.catalog import load_catalog
    from fkguard.discover import catalog as discover_catalog
    with tempfile.TemporaryDirectory() as folder:
        written = Path(folder) / "discovered.yaml"
        written.write_text(discover_catalog.to_yaml(found, "the bench"))
        result["catalog"] = len(load_catalog(written))
    result.update(seconds=seconds, tables=tables[0] if tables else 0)
    return result


@dataclasses.dataclass
class Loaded:
    """A schema file loaded into a database of its own, its declared foreign keys recorded, then dropped, and
    its empty tables filled with rows that satisfy them."""
    settings: ConnectionSettings
    schemas: list[str]
    keys: list[tuple[str, str, Relation]]  # truth(): (table, constraint name, relation), before the drop
    actions: dict[tuple[str, str], tuple[str, str]]  # (table, constraint name) -> (ON DELETE, ON UPDATE) declared
    refused: int
    notes: list[str]
    filled: int
    failures: list[str]
    repaired: int

    @property
    def relations(self) -> list[Relation]:
        return sorted({rel for _, _, rel in self.keys})


_ACTION = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def _actions(conn: psycopg.Connection, keys: list[tuple[str, str, Relation]]) -> dict[tuple[str, str], tuple[str, str]]:
    """Each key's declared referential actions (bench.scale writes them into its catalog as they were)."""
    out = {}
    for table_of, constraint, _rel in keys:
        row = conn.execute("SELECT confdeltype, confupdtype FROM pg_constraint WHERE conrelid = %s::regclass "
                           "AND conname = %s", (_regclass(table_of), constraint)).fetchone()
        out[(table_of, constraint)] = (_ACTION[row[0]], _ACTION[row[1]]) if row else ("NO ACTION", "NO ACTION")
    return out


def _fill_empty(conn: psycopg.Connection, tables: list[str], relations: list[Relation]) -> tuple[int, list[str], int]:
    """Rows in the tables that have none, satisfying the (dropped) keys: (tables filled, failures, rows repaired)."""
    empty = [t for t in tables if not _one(conn, sql.SQL("SELECT EXISTS (SELECT FROM {})").format(_ident(t)))]
    if not empty:  # the schema's own rows stay; its empty tables get rows
        return 0, [], 0
    for q in empty:  # triggers and checks are the schema's business rules, not its keys
        conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(_ident(q)))
        for (check,) in conn.execute("SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass "
                                     "AND contype = 'c'", (_regclass(q),)).fetchall():
            conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(_ident(q), sql.Identifier(check)))
    qrels = [r for r in relations if r[0] in tables and r[2] in tables]
    filler = Filler(conn, qrels, tables)
    failures = [f"{q}: {problem}" for q in empty if (problem := filler.fill(q))]
    return len(empty), failures, repair(conn, qrels, filler.cols)


def load_stripped(paths: list[Path], name: str) -> Loaded:
    """load() the files into database `name`, record their keys (truth()) and drop them, fill the empty tables."""
    refused, notes = load(paths, name)
    settings = _settings(name)
    with settings.connect(application_name="bench-discover", autocommit=True) as conn:
        schemas = _schemas(conn)
        found_keys = truth(conn, schemas)
        actions = _actions(conn, found_keys)
        for table_of, constraint, _rel in found_keys:
            conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
                _ident(table_of), sql.Identifier(constraint)))
        tables = [f"{s}.{t}" for s, t in conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY(%s) ORDER BY 1, 2", (schemas,))]
        filled, failures, repaired = _fill_empty(conn, tables, sorted({rel for _, _, rel in found_keys}))
        conn.execute("ANALYZE")
    return Loaded(settings, schemas, found_keys, actions, refused, notes, filled, failures, repaired)


def drop_database(name: str) -> None:
    _superuser(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)).as_string())


def bench_one(paths: list[Path], keep: bool = False, use_names: bool = True, use_data: bool = True,
              walk: bool = False) -> dict:
    path = paths[0]
    name = "discover_bench_" + re.sub(r"\W+", "_", path.stem.lower())
    started = time.monotonic()
    loaded = load_stripped(paths, name)
    settings = loaded.settings
    result = _run(settings, loaded.schemas, set(loaded.relations), use_names, use_data)
    result.update(schema=path.stem, total=time.monotonic() - started, refused=loaded.refused, notes=loaded.notes,
                  filled=loaded.filled, failures=loaded.failures, repaired=loaded.repaired)
    try:
        if walk:
            result["rollout"] = _rollout(settings, loaded.schemas, result["keys"])
    finally:
        if not keep:
            _superuser(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return result


def table(results: list[dict]) -> str:
    lines = ["| schema | tables | true keys | proposed | correct | precision | recall | seconds | catalog loads |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['schema']} | {r['tables']} | {r['true']} | {r['proposed']} | {r['hits']} | "
                     f"{100 * r['precision']:.1f}% | {100 * r['recall']:.1f}% | {r['seconds']:.1f} | {r['catalog']} keys |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.discover", description=__doc__.splitlines()[0])
    parser.add_argument("schemas", nargs="+", help="schema files (outside the project); a,b loads b after a "
                        "into one database (a schema and its data); shapes:shop, shapes:Studio, "
                        "shapes:catalogue are tests/discover_shapes.py's, shapes:wide tests/discover_wide.py's")
    parser.add_argument("--keep", action="store_true", help="keep the databases (discover_bench_<file>)")
    parser.add_argument("--show", type=int, default=15, help="false positives and misses to list per schema")
    parser.add_argument("--sample-above", type=int, help="discover's --sample-above (rows)")
    parser.add_argument("--sample-rows", type=int, help="discover's --sample-rows")
    parser.add_argument("--no-names", action="store_true", help="without names: the data's candidates only, unranked")
    parser.add_argument("--no-data", action="store_true", help="without the data's candidates: names only, as before")
    parser.add_argument("--rollout", action="store_true", help="then take the catalog `fkguard discover --out` writes, "
                        "unchanged, through init, audit, the gated preview and up, validation, verify and destroy "
                        "(bench/discover_rollout.py); exit 1 at the first step that fails")
    args = parser.parse_args(argv)
    SAMPLING.update({k: v for k, v in (("sample_above", args.sample_above), ("sample_rows", args.sample_rows))
                     if v is not None})
    results = []
    for arg in args.schemas:
        paths = [Path(p) for p in arg.split(",")]
        path = paths[0]
        say(f"{arg}: loading")
        use_names, use_data = not args.no_names, not args.no_data
        try:
            if arg.startswith("shapes:"):
                results.append(bench_fixture(arg, args.keep, use_names, use_data, args.rollout))
                continue
            r = bench_one(paths, args.keep, use_names, use_data, args.rollout)
        except discover_rollout.RolloutFailed as failed:
            print(discover_rollout.table(arg, failed.steps))
            print(f"\nbench.discover: {arg}: the rollout failed at '{failed.step}':\n{failed.output}", file=sys.stderr)
            return 1
        results.append(r)
        say(f"{path.stem}: {r['tables']} tables, {r['refused']} statements refused, "
            f"rows filled in {r['filled']} empty tables, {len(r['failures'])} tables left empty, "
            f"{r['repaired']} rows repaired; load+fill+discover {r['total']:.1f}s")
        for n in r["notes"][:6] + r["failures"][:6]:
            say(f"  {n}")
    print(table(results))
    for r in results:
        print(f"\n{r['schema']}: false positives by kind {dict(r['fp_kinds'])}; misses by kind {dict(r['miss_kinds'])}")
        for p in r["fp"][: args.show]:
            print(f"  fp   {p[0]} ({', '.join(p[1])}) -> {p[2]} ({', '.join(p[3])})")
        for p in r["missed"][: args.show]:
            print(f"  miss {p[0]} ({', '.join(p[1])}) -> {p[2]} ({', '.join(p[3])})")
    for r in results:
        if "rollout" in r:
            print(f"\n{discover_rollout.table(r['schema'], r['rollout'])}")
    with open("/proc/loadavg") as f:
        print(f"\nload average: {' '.join(f.read().split()[:3])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
