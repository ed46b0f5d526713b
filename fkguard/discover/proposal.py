"""What `fkguard discover` writes for each proposed key besides its definition: a name by a stated
convention, a tier from the data, and ON DELETE from the schema's own conventions."""

from __future__ import annotations

import hashlib
from collections import Counter

import psycopg

from fkguard.catalog import MAX_IDENTIFIER_BYTES, TIERS, QualifiedName
from fkguard.discover import names
from fkguard.discover.model import Candidate
from fkguard.discover.schema import Existing, Table


def _short(name: str) -> str:
    if len(name.encode()) <= MAX_IDENTIFIER_BYTES:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    cut = name
    while len((cut + "_" + digest).encode()) > MAX_IDENTIFIER_BYTES:
        cut = cut[:-1]
    return f"{cut}_{digest}"


def constraint_name(candidate: Candidate) -> str:
    """fk_<table>_<column without its id/ref suffix> for one column, fk_<table>_<referenced table> for several;
    longer than 63 bytes: cut, with 8 hex digits of the whole name's SHA-256."""
    tail = names.stem_text(candidate.columns[0]) if len(candidate.columns) == 1 else candidate.references.name
    return _short(f"fk_{candidate.table.name}_{tail}")


def assign_names(conn: psycopg.Connection, kept: list[Candidate]) -> None:
    taken = {(QualifiedName(s, t), n) for s, t, n in conn.execute(
        "SELECT n.nspname, c.relname, k.conname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace")}
    used: set[str] = set()  # the catalog wants names unique across the file
    for c in kept:
        base = constraint_name(c)
        name, n = base, 1
        while name in used or (c.table, name) in taken:
            n += 1
            name = _short(f"{base}_{n}")
        c.name = name
        used.add(name)


def assign_tiers(kept: list[Candidate]) -> None:
    """The keys with the fewest rows to validate (referencing plus referenced: what VALIDATE reads) first, so
    small master parents lead and the largest child tables come last; cut into the four tiers in that order,
    the keys of one table sharing the tier of its first."""
    ordered = sorted(kept, key=lambda c: (c.rows + c.parent_rows, c.rows, str(c.table), c.columns))
    first: dict[QualifiedName, str] = {}
    for i, c in enumerate(ordered):
        c.tier = first.setdefault(c.table, TIERS[len(TIERS) * i // max(len(ordered), 1)])


def _part_of(candidate: Candidate) -> bool:
    """A child named after its parent (punchlist_items of punchlists): the names hint at CASCADE."""
    child, parent = names.words(candidate.table.name), names.words(candidate.references.name)
    return bool(child and parent) and parent[0] in (child[0], names.plural(child[0])) and child != parent


def propose_on_delete(kept: list[Candidate], existing: list[Existing], tables: dict[QualifiedName, Table]) -> None:
    overall = Counter(e.on_delete for e in existing)
    for c in kept:
        to_parent = Counter(e.on_delete for e in existing if e.references == c.references)
        if to_parent:
            action, n = to_parent.most_common(1)[0]
            c.on_delete, c.on_delete_why = action, (f"as {n} of the {sum(to_parent.values())} foreign keys to "
                                                    f"{c.references} in the schema")
        elif overall:
            action, n = overall.most_common(1)[0]
            c.on_delete, c.on_delete_why = action, f"the schema's convention: {n} of its {len(existing)} foreign keys"
        else:
            hint = (f"; the names say {c.table.name} is part of {c.references.name}: CASCADE would delete them with it"
                    if _part_of(c) else "")
            c.on_delete, c.on_delete_why = "RESTRICT", ("your choice: the schema has no foreign keys to take a "
                                                        "convention from, and RESTRICT deletes nothing" + hint)
        if c.on_delete == "SET NULL" and any(tables[c.table].columns[col].not_null for col in c.columns):
            c.on_delete, c.on_delete_why = "RESTRICT", c.on_delete_why + "; SET NULL cannot apply to a NOT NULL column"
