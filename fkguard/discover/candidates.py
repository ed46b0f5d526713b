"""Candidates: from names (fkguard.discover.names), and from the data (fkguard.discover.data) ranked by names."""

from __future__ import annotations

from functools import partial

import psycopg

from fkguard.catalog import QualifiedName
from fkguard.discover import data, names
from fkguard.discover.measure import Sizes, finished_in_time
from fkguard.discover.model import OTHER_SCHEMA, Candidate, Progress
from fkguard.discover.schema import Table


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


def data_candidates(conn: psycopg.Connection, tables: dict[int, Table], sizes: Sizes, sample_rows: int,
                    covered: set[tuple], progress: Progress, use_names: bool = True) -> list[Candidate]:
    """Candidates from inclusion dependencies (fkguard.discover.data), ranked by what the names say: one per
    column (the best evidence, then the parent most of the schema's keys point at, then the smallest)."""
    by_name = {t.name: t for t in tables.values()}
    profiles = _profiles(conn, tables, sizes, sample_rows, progress)
    keys = [profiles[(t.name, k[0])] for t in tables.values() for k in t.keys
            if len(k) == 1 and (t.name, k[0]) in profiles]
    for key in (k for k in keys if k.sampled):
        if not finished_in_time(conn, partial(data.whole_key, conn, key, sizes.rows(key.table))):
            key.values = 0  # its range unknown: left to the names
    children = [p for p in profiles.values() if p.values and (p.table, frozenset([p.column])) not in covered]
    pairs = data.inclusions(conn, children, keys)
    progress(f"discover: {len(profiles)} columns profiled, {len(keys)} single-column keys, "
             f"{len(pairs)} inclusions in the sampled values")
    named = frozenset(names.singular_words(t.name.name) for t in tables.values())
    scored = _scored(pairs, by_name, named, data.generated_columns(conn, tables), use_names)
    return _one_per_column(scored, by_name, use_names)


def _profiles(conn: psycopg.Connection, tables: dict[int, Table], sizes: Sizes, sample_rows: int,
              progress: Progress) -> dict[tuple[QualifiedName, str], data.Profile]:
    """Every key-typed column's statistics, one statement per table, sampled on a big table."""
    types = data.column_types(conn, tables)
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
    return profiles


def _scored(pairs: list[tuple[data.Profile, data.Profile]], by_name: dict[QualifiedName, Table],
            named: frozenset, generated: set, use_names: bool) -> list[tuple]:
    """(child, key, name score, why) for each inclusion the names do not rule out."""
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
    return scored


def _one_per_column(scored: list[tuple], by_name: dict[QualifiedName, Table], use_names: bool) -> list[Candidate]:
    """The best parent of each child column: the strongest name evidence, then the parent's own key, then the
    table most of the schema's columns are named after, then the smallest key (the most specific parent)."""
    hub: dict[QualifiedName, int] = {}
    for _child, key, score, _ in scored:
        if score >= names.TAIL_OWN:
            hub[key.table] = hub.get(key.table, 0) + 1

    def rank(item: tuple) -> tuple:
        _child, key, score, _ = item
        return (score, by_name[key.table].primary == (key.column,), hub.get(key.table, 0), -key.distinct)

    by_column: dict[tuple[QualifiedName, str], list[tuple]] = {}
    for item in scored:
        by_column.setdefault((item[0].table, item[0].column), []).append(item)
    found = []
    for (child_table, column), group in by_column.items():
        group.sort(key=rank, reverse=True)
        child, key, score, because = group[0]
        if not use_names:  # the data alone (to measure what the names add): the smallest key that holds them
            score, because = DATA_HUB, f"every {column} sampled is a {key.table.name} key"
        elif not score:
            score, because = _data_evidence(group, hub, rank(group[0])[2])
            if not score:
                continue
        if use_names and child.integer and names.measure_like(column) and score < names.TABLE_NAMED:
            continue  # a count, a position or a year falls inside serial ids
        if key.table.schema != child_table.schema:
            score *= OTHER_SCHEMA
        found.append(Candidate(child_table, (column,), key.table, (key.column,), round(score, 3),
                               [f"{because} (data: sampled values all in the key)"]))
    return found


def _data_evidence(group: list[tuple], hub: dict[QualifiedName, int], best_hub: int) -> tuple[float, str]:
    """A column no name ties to a parent: proposed when its values say it on their own (uuid or text values all
    in one key and no other), or when it reads like a reference and its parent is the table most columns are
    named after; else (0, "")."""
    child, key, _, _ = group[0]
    column = child.column
    strong = child.type in data.STRONG and child.type != "text" or (child.type in data.STRONG and child.distinct >= 5)
    hubs = sorted((hub.get(k.table, 0) for _, k, _, _ in group), reverse=True)
    top_hub = hubs[0] >= 3 and (len(hubs) == 1 or hubs[0] > hubs[1])
    if strong and child.distinct >= 2 and len(group) == 1 and names.refers(column):
        return DATA_STRONG, f"every {column} sampled is a {key.table.name} key, and no other table's"
    if use_hub and child.integer and names.refers(column) and top_hub and best_hub == hubs[0]:
        return DATA_HUB, f"every {column} sampled is a {key.table.name} key, the table {hubs[0]} other columns are named after"
    return 0.0, ""
