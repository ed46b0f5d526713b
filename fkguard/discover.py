"""`fkguard discover`: the foreign keys a live database is missing, each with the evidence for it.

1. Candidates from names (fkguard.discover_names): a column `x_id`/`xId`/`x_ref` to a table `x`, `xs` or
   `x_master` (with or without a prefix of the table's own) and that table's single-column primary key; a
   column named like another table's distinctive single-column key; a column set named like another table's
   composite unique key.
2. Left out: columns an existing foreign key already covers, and relationships a trigger enforces (a row
   trigger on the referencing table for INSERT or UPDATE, or on the referenced table for DELETE or UPDATE,
   whose function's source names the other table and every column of the pair: how hand-written RI looks).
3. Confirmed by fkguard's own checks: a unique key over the referenced columns (live.has_unique_key) and
   types PostgreSQL compares without casting the referencing column (column_types.pairings, not blocking).
4. Evidence from the data with the audit's predicate (orphans.count_keys_and_orphans): the share of keys
   that have a parent, exact on small tables and on a repeatable TABLESAMPLE of big ones (the size said),
   the orphans, the row counts, whether an index leads with the columns.
5. One parent per column set (the best share, then the most direct name); a key implied by a composite one
   through its parent's own key is left out (`Task (TenantId)` when `Task (TenantId, ProjectNo)` -> `Project`
   and `Project (TenantId)` -> `Tenant`).

Only catalog reads and aggregate queries run: no table is loaded, so memory stays flat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

import psycopg
from psycopg import sql

from fkguard import column_types, ddl, indexes, live, orphans
from fkguard import discover_data as data
from fkguard import discover_names as names
from fkguard.catalog import TIERS, ForeignKey, QualifiedName
from fkguard.discover_proposal import assign_names, assign_tiers, propose_on_delete
from fkguard.discover_schema import (
    Existing,
    Table,
    enforcing_trigger,
    read_existing,
    read_tables,
    read_triggers,
    user_schemas,
)
from fkguard.errors import FkguardError

SAMPLE_ABOVE = 100_000  # rows: tables bigger than this are sampled
SAMPLE_ROWS = 20_000    # about this many referencing rows read from a sampled table
MIN_SHARE = 0.9         # a candidate whose keys find a parent less often than this is not proposed
OTHER_SCHEMA = 0.9      # factor for a parent in another schema than the referencing table

Progress = Callable[[str], None]


class DiscoverError(FkguardError):
    """A discovery refused before it read anything; the message names the setting and the fix."""


@dataclass
class Candidate:
    table: QualifiedName
    columns: tuple[str, ...]
    references: QualifiedName
    referenced_columns: tuple[str, ...]
    name_score: float
    because: list[str]
    types: str = ""
    keys: int | None = None          # referencing rows with a key (in the sample, when sampled)
    orphans: int | None = None
    sample_percent: float | None = None
    rows: int = 0                    # the referencing table's rows (exact below SAMPLE_ABOVE, else estimated)
    parent_rows: int = 0
    index: str | None = None         # a valid index leading with the columns
    confidence: float = 0.0
    ambiguous: str = ""
    rejected: str = ""               # why it is not proposed ("" when it is)
    name: str = ""
    tier: str = "low"
    on_delete: str = "RESTRICT"
    on_delete_why: str = ""

    @property
    def share(self) -> float | None:
        return None if not self.keys or self.orphans is None else (self.keys - self.orphans) / self.keys

    @property
    def label(self) -> str:
        return "high" if self.confidence >= 0.85 else "medium" if self.confidence >= 0.6 else "low"

    @property
    def pairs(self) -> frozenset[tuple[str, str]]:
        return frozenset(zip(self.columns, self.referenced_columns, strict=True))

    def foreign_key(self) -> ForeignKey:
        return ForeignKey(name=self.name or "fk_discover_candidate", tier=self.tier, table=self.table, columns=self.columns,
                          references=self.references, referenced_columns=self.referenced_columns, on_delete=self.on_delete)

    def describe(self) -> str:
        return f"{self.table} ({', '.join(self.columns)}) -> {self.references} ({', '.join(self.referenced_columns)})"


@dataclass
class Discovery:
    proposed: list[Candidate]
    rejected: list[Candidate]
    skipped: list[str]  # columns left out before any check (an existing key, a trigger), one line each
    tables: int
    schemas: tuple[str, ...]
    existing: list[Existing]


# --- candidates from names ------------------------------------------------------------------------------

def _add(found: dict[tuple, Candidate], table: QualifiedName, columns: tuple[str, ...], parent: QualifiedName,
         referenced: tuple[str, ...], score: float, because: str) -> None:
    if parent.schema != table.schema:
        score *= OTHER_SCHEMA
    key = (table, columns, parent, referenced)
    if key in found:
        found[key].name_score = max(found[key].name_score, score)
        found[key].because.append(because)
    else:
        found[key] = Candidate(table, columns, parent, referenced, score, [because])


def name_candidates(tables: dict[int, Table]) -> list[Candidate]:
    found: dict[tuple, Candidate] = {}
    by_key_name: dict[str, list[tuple[Table, str]]] = {}
    for parent in tables.values():
        for key in parent.keys:
            if len(key) == 1 and names.distinctive_key(key[0]):
                by_key_name.setdefault(key[0], []).append((parent, key[0]))
    index = names.TableIndex(sorted({t.name.name for t in tables.values()}))
    by_table_name: dict[str, list[Table]] = {}
    for t in tables.values():
        by_table_name.setdefault(t.name.name, []).append(t)
    for table in tables.values():
        for column in table.columns:
            stem = names.stem(column)
            matched = index.matches(stem) if stem else {}
            for parent, score in ((p, s) for name, s in matched.items() for p in by_table_name[name]):
                singles = [k for k in parent.keys if len(k) == 1]
                targets = [parent.primary] if len(parent.primary) == 1 else singles
                for target in targets:
                    if not (parent is table and target == (column,)):
                        _add(found, table.name, (column,), parent.name, target, score,
                             f"{column} names {parent.name.name}")
            for parent, key_column in by_key_name.get(column, []):
                if parent is not table:
                    _add(found, table.name, (column,), parent.name, (key_column,), names.KEY_NAME,
                         f"{column} is {parent.name.name}'s key name")
    for parent in tables.values():
        for key in (k for k in parent.keys if len(k) > 1):
            for table in tables.values():
                if table is not parent and all(c in table.columns for c in key):
                    _add(found, table.name, key, parent.name, key, names.COMPOSITE,
                         f"({', '.join(key)}) is {parent.name.name}'s composite key")
    return list(found.values())


# --- candidates from the data, names as evidence --------------------------------------------------------------

DATA_STRONG = 0.6  # no name evidence, but uuid or text values all found in one key: they seldom coincide by chance
DATA_HUB = 0.55    # no name evidence, a reference-like integer column, in the key most of the schema points at
use_hub = False    # off: polymorphic ids (record_id, owner_id with a type column) fall in the busiest key too
SHARED_COVER = 0.5  # a table's own key shares its parent's only when it covers at least this share of the parent's


def data_candidates(conn: psycopg.Connection, tables: dict[int, Table], sizes: _Sizes, sample_rows: int,
                    covered: set[tuple], progress: Progress, use_names: bool = True) -> list[Candidate]:
    """Candidates from inclusion dependencies (fkguard.discover_data), ranked by what the names say: one per
    column (the best evidence, then the parent most of the schema's keys point at, then the smallest)."""
    types = data.column_types(conn, tables)
    generated = data.generated_columns(conn, tables)
    named = frozenset(names.singular_words(t.name.name) for t in tables.values())
    by_name = {t.name: t for t in tables.values()}
    profiles: dict[tuple[QualifiedName, str], data.Profile] = {}
    for table in tables.values():
        columns = [(c, types[(table.name, c)]) for c in table.columns if (table.name, c) in types]
        rows = sizes.rows(table.name)
        percent = (max(min(100.0, round(100.0 * sample_rows / rows, 4)), 0.0001)
                   if rows > sizes.sample_above else None)
        try:
            for p in data.profile_table(conn, table.name, columns, percent) if rows else []:
                profiles[(p.table, p.column)] = p
        except psycopg.errors.QueryCanceled:
            progress(f"discover: {table.name}'s statistics ran past statement_timeout {data.TIMEOUT}: its columns "
                     f"are left to the names")
    keys = [profiles[(t.name, k[0])] for t in tables.values() for k in t.keys
            if len(k) == 1 and (t.name, k[0]) in profiles]
    for key in (k for k in keys if k.sampled):
        if not _bounded(conn, partial(data.whole_key, conn, key, sizes.rows(key.table))):
            key.values = 0  # its range unknown: left to the names
    children = [p for p in profiles.values() if p.values and (p.table, frozenset([p.column])) not in covered]
    pairs = data.inclusions(conn, children, keys)
    progress(f"discover: {len(profiles)} columns profiled, {len(keys)} single-column keys, "
             f"{len(pairs)} inclusions in the sampled values")
    scored = []
    for child, key in pairs:
        own = by_name[child.table].primary == (child.column,)
        score, because = (names.evidence(child.column, child.table.name, key.table.name, key.column, own, named)
                          if use_names else (0.0, ""))
        if not use_names and own:
            continue
        # A table's own key shares its parent's only when nothing generates it (no serial, identity, default).
        if own and (not score or (child.table, child.column) in generated
                    or child.distinct < SHARED_COVER * key.distinct):
            continue
        scored.append((child, key, score, because))
    hub: dict[QualifiedName, int] = {}
    for _child, key, score, _ in scored:
        if score >= names.TAIL_OWN:
            hub[key.table] = hub.get(key.table, 0) + 1
    found = []
    by_column: dict[tuple[QualifiedName, str], list[tuple]] = {}
    for item in scored:
        by_column.setdefault((item[0].table, item[0].column), []).append(item)
    for (child_table, column), group in by_column.items():
        def rank(item: tuple) -> tuple:
            child, key, score, _ = item
            primary = by_name[key.table].primary == (key.column,)
            return (score, primary, hub.get(key.table, 0), -key.distinct)
        group.sort(key=rank, reverse=True)
        child, key, score, because = group[0]
        if not use_names:  # the data alone (to measure what the names add): the smallest key that holds them
            score, because = DATA_HUB, f"every {column} sampled is a {key.table.name} key"
        elif not score:
            strong = child.type in data.STRONG and child.type != "text" or (child.type in data.STRONG and child.distinct >= 5)
            hubs = sorted((hub.get(k.table, 0) for _, k, _, _ in group), reverse=True)
            top_hub = hubs[0] >= 3 and (len(hubs) == 1 or hubs[0] > hubs[1])
            if strong and child.distinct >= 2 and len(group) == 1 and names.refers(column):
                score, because = DATA_STRONG, f"every {column} sampled is a {key.table.name} key, and no other table's"
            elif use_hub and child.integer and names.refers(column) and top_hub and rank(group[0])[2] == hubs[0]:
                score, because = DATA_HUB, (f"every {column} sampled is a {key.table.name} key, the table "
                                            f"{hubs[0]} other columns are named after")
            else:
                continue
        if use_names and child.integer and names.measure_like(column) and score < names.TABLE_NAMED:
            continue  # a count, a position or a year falls inside serial ids
        if key.table.schema != child_table.schema:
            score *= OTHER_SCHEMA
        found.append(Candidate(child_table, (column,), key.table, (key.column,), round(score, 3),
                               [f"{because} (data: sampled values all in the key)"]))
    return found


# --- the checks and the data --------------------------------------------------------------------------------

def _type_problem(conn: psycopg.Connection, candidate: Candidate) -> str:
    """'' when fkguard's own checks accept the pair; otherwise why not. Fills candidate.types."""
    if not live.has_unique_key(conn, candidate.references, candidate.referenced_columns):
        return f"no unique key over {candidate.references} ({', '.join(candidate.referenced_columns)})"
    pairs = column_types.pairings(conn, candidate.foreign_key())
    candidate.types = "; ".join(f"{p.mine} -> {p.theirs} ({p.verdict})" for p in pairs)
    blocking = [p for p in pairs if p.blocking]
    return f"types: {blocking[0].column} {blocking[0].mine} -> {blocking[0].theirs}: {blocking[0].reason}" if blocking else ""


class _Sizes:
    """Rows per table: exact (count) at or below SAMPLE_ABOVE by the planner's estimate, the estimate above."""

    def __init__(self, conn: psycopg.Connection, sample_above: int) -> None:
        self.conn, self.sample_above = conn, sample_above
        self.known: dict[QualifiedName, int] = {}

    def estimate(self, table: QualifiedName) -> int:
        return indexes.row_estimate(self.conn, table)

    def rows(self, table: QualifiedName) -> int:
        if table not in self.known:
            estimate = self.estimate(table)
            if estimate <= self.sample_above:
                row = self.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ddl.table_ref(table))).fetchone()
                estimate = int(row[0]) if row else 0
            self.known[table] = estimate
        return self.known[table]


def _bounded(conn: psycopg.Connection, action: Callable[[], object]) -> bool:
    """Run action with discover's statement_timeout (fkguard.discover_data.TIMEOUT); False when it ran past it."""
    try:
        with data.bounded(conn):
            action()
    except psycopg.errors.QueryCanceled:
        return False
    return True


def measure(conn: psycopg.Connection, candidate: Candidate, sizes: _Sizes, sample_rows: int) -> None:
    """The share of keys with a parent (sampled on a big table), the row counts and the supporting index."""
    candidate.rows, candidate.parent_rows = sizes.rows(candidate.table), sizes.rows(candidate.references)
    fk = candidate.foreign_key()
    if candidate.rows > sizes.sample_above:
        candidate.sample_percent = max(min(100.0, round(100.0 * sample_rows / candidate.rows, 4)), 0.0001)
    candidate.keys, candidate.orphans = orphans.count_keys_and_orphans(conn, fk, candidate.sample_percent)
    found = [i for i in live.leading_indexes(conn, candidate.table, candidate.columns) if i.valid]
    candidate.index = found[0].name if found else None


def _confidence(candidate: Candidate) -> float:
    share = candidate.share
    value = candidate.name_score * (0.5 if share is None else share)
    if candidate.keys and candidate.keys < 10:
        value *= 0.8  # a handful of keys proves little
    if candidate.ambiguous:
        value *= 0.8
    return round(value, 3)


def _choose(proposed: list[Candidate]) -> list[Candidate]:
    """One parent per referencing column set: the best share, then the most direct name."""
    def rank(c: Candidate) -> tuple:
        return (c.share if c.share is not None else 0.5, c.name_score, -c.parent_rows)

    kept: list[Candidate] = []
    groups: dict[tuple, list[Candidate]] = {}
    for c in proposed:
        groups.setdefault((c.table, frozenset(c.columns)), []).append(c)
    for group in groups.values():
        group.sort(key=rank, reverse=True)
        best = group[0]
        for other in group[1:]:
            other.rejected = f"{best.references} fits the same columns better"
            if rank(other)[:2] == rank(best)[:2]:
                best.ambiguous = f"{other.references} fits as well"
        kept.append(best)
    # Two tables naming each other with the same column (a 1:1 pair): the better direction stays.
    for c in list(kept):
        twin = next((o for o in kept if o.table == c.references and o.references == c.table
                     and o.columns == c.referenced_columns and o.referenced_columns == c.columns), None)
        if twin is not None and c in kept and rank(twin) >= rank(c):
            c.rejected = f"the other direction ({twin.describe()}) fits better"
            kept.remove(c)
    return kept


def _composites(conn: psycopg.Connection, kept: list[Candidate], tables: dict[QualifiedName, Table], covered: set[tuple],
                sizes: _Sizes, sample_rows: int, min_share: float) -> list[Candidate]:
    """Composite keys from their unary parts: `membership_roles (membership_id) -> memberships (id)`, where
    memberships has a unique key (id, organization_id) and membership_roles an organization_id too, becomes
    (membership_id, organization_id) -> memberships (id, organization_id) when the data hold it (the unary
    key is then implied by it, and left out when the columns are NOT NULL)."""
    found: list[Candidate] = []
    for unary in (c for c in kept if len(c.columns) == 1):
        child, parent = tables[unary.table], tables[unary.references]
        for key in (k for k in parent.keys if len(k) > 1 and unary.referenced_columns[0] in k):
            columns = tuple(unary.columns[0] if k == unary.referenced_columns[0] else k for k in key)
            if len(set(columns)) < len(columns) or not all(c in child.columns for c in columns):
                continue
            if (unary.table, frozenset(columns)) in covered or any(
                    c.table == unary.table and set(c.columns) == set(columns) for c in [*kept, *found]):
                continue
            wide = Candidate(unary.table, columns, unary.references, key, round(unary.name_score * 0.95, 3),
                             [*unary.because, f"with ({', '.join(c for c in columns[1:] if c != unary.columns[0])}) "
                              f"named like the rest of {parent.name.name}'s unique key ({', '.join(key)})"])
            if _type_problem(conn, wide):
                continue
            if not _bounded(conn, partial(measure, conn, wide, sizes, sample_rows)):
                continue
            if wide.share is None or wide.share < min_share:
                continue
            found.append(wide)
    return found


def _implied(kept: list[Candidate], existing: list[Existing], enforced: list[Candidate],
             tables: dict[QualifiedName, Table]) -> list[Candidate]:
    """Keys a composite one implies through its parent's own key (module step 5). The composite one (a
    candidate, an existing key or one a trigger enforces) must be NOT NULL throughout: under MATCH SIMPLE a
    row with a NULL in it escapes the check, and its other columns with it."""
    relations = [(c.table, c.columns, c.pairs, c.references) for c in [*kept, *enforced]]
    relations += [(e.table, e.columns, frozenset(zip(e.columns, e.referenced_columns, strict=True)), e.references)
                  for e in existing]
    implied = []
    for small in kept:
        for table, columns, pairs, parent in relations:
            through = dict(pairs)
            if table != small.table or not set(small.columns) < set(through):
                continue
            if not all(tables[table].columns[c].not_null for c in through):
                continue
            if parent == small.references and small.pairs < pairs:
                small.rejected = f"implied by the key {table} ({', '.join(columns)}) -> {parent}"
                implied.append(small)
                break
            mapped = frozenset((through[c], r) for c, r in small.pairs)
            if any(t == parent and p == mapped and r == small.references for t, _, p, r in relations):
                small.rejected = f"implied by the key {table} ({', '.join(columns)}) -> {parent} and {parent}'s own"
                implied.append(small)
                break
    return [c for c in kept if c not in implied]


# --- the whole discovery ------------------------------------------------------------------------------------

def discover(conn: psycopg.Connection, schemas: Iterable[str] = (), progress: Progress = lambda _: None,
             sample_above: int = SAMPLE_ABOVE, sample_rows: int = SAMPLE_ROWS, min_share: float = MIN_SHARE,
             use_data: bool = True, use_names: bool = True) -> Discovery:
    present = user_schemas(conn)
    missing = [s for s in schemas if s not in present]
    if missing:
        raise DiscoverError(f"schema {missing[0]!r} does not exist in the database (names are case-sensitive); "
                            f"its schemas are {', '.join(present) or 'none'}")
    if not 0 < min_share <= 1:
        raise DiscoverError(f"--min-share {min_share:g} must be above 0 and at most 1 (the share of keys with a parent)")
    if sample_rows < 1 or sample_above < 0:
        raise DiscoverError("--sample-rows must be at least 1 and --sample-above at least 0")
    chosen = tuple(schemas) or present
    tables = read_tables(conn, chosen)
    existing = read_existing(conn, tables)
    triggers = read_triggers(conn, tables)
    covered = {(e.table, frozenset(e.columns)) for e in existing}
    candidates = name_candidates(tables) if use_names else []
    progress(f"discover: {len(tables)} tables in {', '.join(chosen)}, {len(existing)} foreign keys already, "
             f"{len(candidates)} candidates from names")
    sizes = _Sizes(conn, sample_above)
    if use_data:
        known = {(c.table, c.columns, c.references, c.referenced_columns) for c in candidates}
        more = [c for c in data_candidates(conn, tables, sizes, sample_rows, covered, progress, use_names)
                if (c.table, c.columns, c.references, c.referenced_columns) not in known]
        candidates += more
        progress(f"discover: {len(more)} more candidates from the data")
    skipped, checked, rejected, enforced = [], [], [], []
    for c in candidates:
        if (c.table, frozenset(c.columns)) in covered:
            skipped.append(f"{c.describe()}: an existing foreign key covers {c.table} ({', '.join(c.columns)})")
        elif (trigger := enforcing_trigger(triggers, c.table, c.columns, c.references)) is not None:
            skipped.append(f"{c.describe()}: enforced by trigger {trigger}")
            enforced.append(c)
        elif problem := _type_problem(conn, c):
            c.rejected = problem
            rejected.append(c)
        else:
            checked.append(c)
    progress(f"discover: {len(skipped)} left out (an existing key or a trigger), {len(rejected)} refused by the "
             f"unique-key and type checks, {len(checked)} to measure in the data")
    for i, c in enumerate(checked, 1):
        if not _bounded(conn, partial(measure, conn, c, sizes, sample_rows)):
            c.rejected = f"its check ran past statement_timeout {data.TIMEOUT}: not measured"
            progress(f"discover: {i}/{len(checked)} {c.describe()}: {c.rejected}")
            continue
        share = "no keys" if c.share is None else f"{100 * c.share:.1f}% of {c.keys:,} keys"
        progress(f"discover: {i}/{len(checked)} {c.describe()}: {share}"
                 + (f" (sample {c.sample_percent:g}% of {c.rows:,} rows)" if c.sample_percent else ""))
        if c.share is not None and c.share < min_share:
            c.rejected = f"only {100 * c.share:.1f}% of {c.keys:,} keys have a parent (at least {100 * min_share:g}% wanted)"
    rejected += [c for c in checked if c.rejected]
    kept = _choose([c for c in checked if not c.rejected])
    by_name = {t.name: t for t in tables.values()}
    if use_data:
        widened = _composites(conn, kept, by_name, covered, sizes, sample_rows, min_share)
        checked += widened
        rejected += [c for c in widened if c.rejected]
        kept += [c for c in widened if not c.rejected]
    kept = _implied(kept, existing, enforced, by_name)
    rejected += [c for c in checked if c.rejected and c not in rejected]
    for c in kept:
        c.confidence = _confidence(c)
    assign_names(conn, kept)
    assign_tiers(kept)
    propose_on_delete(kept, existing, by_name)
    kept.sort(key=lambda c: (TIERS.index(c.tier), c.rows, str(c.table), c.columns))
    progress(f"discover: {len(kept)} proposed, {len(rejected)} rejected, {len(skipped)} left out")
    return Discovery(kept, rejected, skipped, len(tables), chosen, existing)
