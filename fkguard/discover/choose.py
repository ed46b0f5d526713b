"""From the measured candidates to the keys proposed: one parent per column set, composite keys from their
unary parts, and no key another one implies."""

from __future__ import annotations

from functools import partial

import psycopg

from fkguard.catalog import QualifiedName
from fkguard.discover.measure import Sizes, finished_in_time, measure, type_problem
from fkguard.discover.model import Candidate
from fkguard.discover.schema import Existing, Table


def choose(proposed: list[Candidate]) -> list[Candidate]:
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


def composites(conn: psycopg.Connection, kept: list[Candidate], tables: dict[QualifiedName, Table], covered: set[tuple],
                sizes: Sizes, sample_rows: int, min_share: float) -> list[Candidate]:
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
            if type_problem(conn, wide):
                continue
            if not finished_in_time(conn, partial(measure, conn, wide, sizes, sample_rows)):
                continue
            if wide.share is None or wide.share < min_share:
                continue
            found.append(wide)
    return found


def implied(kept: list[Candidate], existing: list[Existing], enforced: list[Candidate],
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
