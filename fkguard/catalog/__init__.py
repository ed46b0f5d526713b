"""The constraint catalog: which foreign keys a stack manages, read from one YAML file.

An entry says everything a PostgreSQL foreign key can say:

    - name: fk_members_team                  # required, at most 63 bytes
      tier: high                             # critical | high | medium | low (default low)
      table: public.members                  # schema.table (schema defaults to public)
      columns: [org_id, team_id]
      references: public.teams               # its primary key, or any unique constraint or unique index
      referenced_columns: [org_id, id]
      on_delete: SET NULL                    # NO ACTION (default) | RESTRICT | CASCADE | SET NULL | SET DEFAULT
      on_delete_columns: [team_id]           # PostgreSQL 15+: SET NULL / SET DEFAULT only these of `columns`
      on_update: CASCADE                     # same actions; PostgreSQL takes no column list here
      match: FULL                            # SIMPLE (default) | FULL
      deferrable: true                       # default false
      initially_deferred: true               # default false; needs deferrable: true
      validated: false                       # default true: false keeps it NOT VALID while its tier validates
      index: auto                            # auto (default) | required | none: the index on `columns`
      waivers:                               # a policy set aside for this constraint only, and why
        - policy: column-types-match
          reason: users.id is bigint, org ids stay below 2^31 (APMS-77)
          by: ana

The column list of ON DELETE SET NULL / SET DEFAULT is its own field, a list like `columns`, so a
column name may hold any character; `on_delete: SET NULL (team_id)` is refused with a pointer to it.
A key not listed here is refused too (with a suggestion): a misspelt `deferable:` must not pass
silently as a constraint that is not deferrable. The orphan gate cannot be waived: orphans a team
decides to live with are accepted debt (`fkguard remediate --action accept`), counted and dated.
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from pathlib import Path

import yaml

from fkguard.catalog.entry import entry_problems, parse_entry
from fkguard.catalog.model import (
    ACTIONS,
    COLUMN_LIST_ACTIONS,
    DEFAULT_CATALOG,
    INDEX_CHOICES,
    KEYS,
    MATCHES,
    MAX_IDENTIFIER_BYTES,
    TIERS,
    WAIVABLE,
    CatalogError,
    ForeignKey,
    QualifiedName,
    Waiver,
)

__all__ = ["ACTIONS", "COLUMN_LIST_ACTIONS", "DEFAULT_CATALOG", "INDEX_CHOICES", "KEYS", "MATCHES",
           "MAX_IDENTIFIER_BYTES", "TIERS", "WAIVABLE", "CatalogError", "ForeignKey", "QualifiedName", "Waiver",
           "entry_problems", "find", "formerly_named", "labelled", "load_catalog", "parse_entry"]


def load_catalog(path: str | Path | None = None) -> list[ForeignKey]:
    """Read a catalog file; every problem is one line naming the file, the entry and the fix."""
    path = Path(path) if path else DEFAULT_CATALOG
    try:
        text = path.read_text()
        try:
            # libyaml's parser where installed (PyYAML's wheels bundle it): the pure-Python one took 2.1 s for a
            # 1,000-entry catalog here, in each process of each pass that loads it; the same safe constructors.
            document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError:
            document = yaml.safe_load(text)  # a broken file: the pure-Python parser's error names the line to fix
    except FileNotFoundError:
        raise CatalogError(f"catalog file {path} does not exist; fix the fkguard:catalog setting") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise CatalogError(f"catalog file {path} is not valid YAML{at}; fix its syntax") from None
    if not isinstance(document, dict) or not isinstance(document.get("constraints"), list):
        raise CatalogError(f"catalog file {path} must have a top-level 'constraints:' list")
    keys = [parse_entry(e, f"{path.name} entry {i + 1}") for i, e in enumerate(document["constraints"])]
    seen: set[str] = set()
    for fk in keys:
        # As strict as PostgreSQL, no stricter: a name once per table, any number of times per database.
        if fk.qualified in seen:
            raise CatalogError(f"{path.name}: constraint name '{fk.name}' appears twice on {fk.table}; PostgreSQL "
                               f"allows a name once per table: rename one", entry=fk.name, field="name")
        seen.add(fk.qualified)
    return sorted(labelled(keys), key=lambda fk: fk.tier_rank)


def labelled(keys: list[ForeignKey]) -> list[ForeignKey]:
    """The keys with their labels: the bare name where it is the catalog's only one of that name."""
    counts: dict[str, int] = {}
    for fk in keys:
        counts[fk.name] = counts.get(fk.name, 0) + 1
    return [replace(fk, label=fk.name if counts[fk.name] == 1 else fk.qualified) for fk in keys]


def formerly_named(catalog: list[ForeignKey], present: set[tuple[QualifiedName, str]]) -> dict[ForeignKey, str]:
    """The key that may be recorded in a stack under its bare name, for each name the catalog now shares between
    tables (its label became schema.table.name): a stack from before the second entry holds one resource of that
    name, and only one key may take it over (Pulumi refuses an alias two resources claim). The one whose constraint
    `present` (the database) has, else the first in the catalog. The others are new resources."""
    chosen: dict[str, ForeignKey] = {}
    for fk in catalog:
        if fk.label == fk.name:
            continue
        held = chosen.get(fk.name)
        if held is None or ((fk.table, fk.name) in present and (held.table, held.name) not in present):
            chosen[fk.name] = fk
    return {fk: name for name, fk in chosen.items()}


def find(catalog: list[ForeignKey], text: str, *, table: str | None = None) -> ForeignKey:
    """The one key `text` names: a label, schema.table.name, or a bare name with `table` (schema.table or table)
    saying which. One line naming the choices when it names none or several."""
    if table is not None:
        where = QualifiedName.parse(table)
        found = [fk for fk in catalog if fk.name == text and fk.table == where]
    else:
        found = [fk for fk in catalog if fk.called(text)] or [fk for fk in catalog if fk.name == text]
    if len(found) == 1:
        return found[0]
    if found:
        raise CatalogError(f"constraint '{text}' names {len(found)} keys of the catalog; say which: "
                           f"{' or '.join(fk.qualified for fk in found)}", entry=text)
    close = difflib.get_close_matches(text, [fk.label for fk in catalog], n=1)
    on = f" on {table}" if table is not None else ""
    raise CatalogError(f"no constraint '{text}'{on} in the catalog" + (f": did you mean '{close[0]}'?" if close else
                                                                       "; fkguard status lists them"), entry=text)
