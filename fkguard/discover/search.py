"""The whole discovery, read-only: schemas, candidates, checks, measures, choice, names, tiers and actions."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

import psycopg

from fkguard.catalog import TIERS
from fkguard.discover import data
from fkguard.discover.candidates import data_candidates, name_candidates
from fkguard.discover.choose import choose, composites, implied
from fkguard.discover.measure import Sizes, confidence, finished_in_time, measure, type_problem
from fkguard.discover.model import MIN_SHARE, SAMPLE_ABOVE, SAMPLE_ROWS, Candidate, DiscoverError, Discovery, Progress
from fkguard.discover.proposal import assign_names, assign_tiers, propose_on_delete
from fkguard.discover.schema import Trigger, enforcing_trigger, read_existing, read_tables, read_triggers, user_schemas


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
    covered = {(e.table, frozenset(e.columns)) for e in existing}
    candidates = name_candidates(tables) if use_names else []
    progress(f"discover: {len(tables)} tables in {', '.join(chosen)}, {len(existing)} foreign keys already, "
             f"{len(candidates)} candidates from names")
    sizes = Sizes(conn, sample_above)
    if use_data:
        known = {(c.table, c.columns, c.references, c.referenced_columns) for c in candidates}
        more = [c for c in data_candidates(conn, tables, sizes, sample_rows, covered, progress, use_names)
                if (c.table, c.columns, c.references, c.referenced_columns) not in known]
        candidates += more
        progress(f"discover: {len(more)} more candidates from the data")
    skipped, checked, rejected, enforced = _screen(conn, candidates, covered, read_triggers(conn, tables))
    progress(f"discover: {len(skipped)} left out (an existing key or a trigger), {len(rejected)} refused by the "
             f"unique-key and type checks, {len(checked)} to measure in the data")
    _measure_all(conn, checked, sizes, sample_rows, min_share, progress)
    rejected += [c for c in checked if c.rejected]
    kept = choose([c for c in checked if not c.rejected])
    by_name = {t.name: t for t in tables.values()}
    if use_data:
        widened = composites(conn, kept, by_name, covered, sizes, sample_rows, min_share)
        checked += widened
        rejected += [c for c in widened if c.rejected]
        kept += [c for c in widened if not c.rejected]
    kept = implied(kept, existing, enforced, by_name)
    said = {id(c) for c in rejected}  # by identity: comparing candidates field by field was quadratic
    rejected += [c for c in checked if c.rejected and id(c) not in said]
    for c in kept:
        c.confidence = confidence(c)
    assign_names(conn, kept)
    assign_tiers(kept)
    propose_on_delete(kept, existing, by_name)
    kept.sort(key=lambda c: (TIERS.index(c.tier), c.rows, str(c.table), c.columns))
    progress(f"discover: {len(kept)} proposed, {len(rejected)} rejected, {len(skipped)} left out")
    return Discovery(kept, rejected, skipped, len(tables), chosen, existing)


def _screen(conn: psycopg.Connection, candidates: list[Candidate], covered: set[tuple], triggers: list[Trigger]
            ) -> tuple[list[str], list[Candidate], list[Candidate], list[Candidate]]:
    """Skipped (an existing key covers the columns, or a trigger enforces the pair), checked, rejected by
    fkguard's own checks, and the trigger-enforced ones (they still imply keys: fkguard.discover.choose)."""
    skipped: list[str] = []
    checked: list[Candidate] = []
    rejected: list[Candidate] = []
    enforced: list[Candidate] = []
    for c in candidates:
        if (c.table, frozenset(c.columns)) in covered:
            skipped.append(f"{c.describe()}: an existing foreign key covers {c.table} ({', '.join(c.columns)})")
        elif (trigger := enforcing_trigger(triggers, c.table, c.columns, c.references)) is not None:
            skipped.append(f"{c.describe()}: enforced by trigger {trigger}")
            enforced.append(c)
        elif problem := type_problem(conn, c):
            c.rejected = problem
            rejected.append(c)
        else:
            checked.append(c)
    return skipped, checked, rejected, enforced


def _measure_all(conn: psycopg.Connection, checked: list[Candidate], sizes: Sizes, sample_rows: int,
                 min_share: float, progress: Progress) -> None:
    """Each candidate's share of keys with a parent; below min_share (or past the timeout) it is rejected."""
    for i, c in enumerate(checked, 1):
        if not finished_in_time(conn, partial(measure, conn, c, sizes, sample_rows)):
            c.rejected = f"its check ran past statement_timeout {data.TIMEOUT}: not measured"
            progress(f"discover: {i}/{len(checked)} {c.describe()}: {c.rejected}")
            continue
        share = "no keys" if c.share is None else f"{100 * c.share:.1f}% of {c.keys:,} keys"
        progress(f"discover: {i}/{len(checked)} {c.describe()}: {share}"
                 + (f" (sample {c.sample_percent:g}% of {c.rows:,} rows)" if c.sample_percent else ""))
        if c.share is not None and c.share < min_share:
            c.rejected = f"only {100 * c.share:.1f}% of {c.keys:,} keys have a parent (at least {100 * min_share:g}% wanted)"
