"""The constraint catalog: which foreign keys a stack manages, read from one YAML file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TIERS: tuple[str, ...] = ("critical", "high", "medium", "low")
ACTIONS: tuple[str, ...] = ("NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT")
MATCHES: tuple[str, ...] = ("SIMPLE", "FULL")
MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1: PostgreSQL cuts longer names with only a NOTICE

DEFAULT_CATALOG = Path(__file__).parent / "apms" / "catalog.yaml"


class CatalogError(ValueError):
    """A catalog that cannot be used; the message names the entry and the fix."""


@dataclass(frozen=True)
class QualifiedName:
    schema: str
    name: str

    @classmethod
    def parse(cls, text: str, *, default_schema: str = "public") -> QualifiedName:
        # Only the first dot splits: quoting is sql.Identifier's job, never the user's.
        schema, sep, name = text.partition(".")
        if not sep:
            return cls(default_schema, text)
        return cls(schema, name)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class ForeignKey:
    name: str
    tier: str
    table: QualifiedName
    columns: tuple[str, ...]
    references: QualifiedName
    referenced_columns: tuple[str, ...]
    on_delete: str = "NO ACTION"
    on_update: str = "NO ACTION"
    match: str = "SIMPLE"
    # Whether the catalog said ON DELETE itself, rather than leaving PostgreSQL's default.
    on_delete_explicit: bool = field(default=True, compare=False)

    @property
    def tier_rank(self) -> int:
        return TIERS.index(self.tier)


def _byte_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _columns(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(c, str) and c for c in value):
        return None
    return tuple(value)


def _choice(value: Any, default: str) -> str:
    return str(value if value not in (None, "") else default).upper().replace("_", " ").strip()


def entry_problems(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """Every problem of one catalog entry (or resource's inputs), as (field, one-line message with the fix)."""
    problems: list[tuple[str, str]] = []
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        problems.append(("name", "the constraint name is missing; give every constraint a name"))
    elif _byte_len(name) > MAX_IDENTIFIER_BYTES:
        problems.append(("name", f"'{name}' is {_byte_len(name)} bytes; PostgreSQL keeps only {MAX_IDENTIFIER_BYTES} "
                                 f"and would cut it silently: shorten it"))
    for key in ("table", "references"):
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip(". "):
            problems.append((key, f"'{key}' is missing; give it as schema.table (schema defaults to public)"))
            continue
        qualified = QualifiedName.parse(value)
        for part in (qualified.schema, qualified.name):
            if not part:
                problems.append((key, f"'{value}' has an empty schema or table name; write schema.table"))
            elif _byte_len(part) > MAX_IDENTIFIER_BYTES:
                problems.append((key, f"'{part}' is over {MAX_IDENTIFIER_BYTES} bytes, longer than any PostgreSQL name"))
    cols, refcols = _columns(entry.get("columns")), _columns(entry.get("referenced_columns"))
    if cols is None:
        problems.append(("columns", "'columns' must be a non-empty list of column names"))
    if refcols is None:
        problems.append(("referenced_columns", "'referenced_columns' must be a non-empty list of column names"))
    if cols and refcols and len(cols) != len(refcols):
        problems.append(("referenced_columns", f"{len(cols)} columns reference {len(refcols)} columns; "
                                               f"give one referenced column per column"))
    for key in ("on_delete", "on_update"):
        if _choice(entry.get(key), "NO ACTION") not in ACTIONS:
            problems.append((key, f"{key} '{entry.get(key)}' is not one of {', '.join(ACTIONS)}"))
    if _choice(entry.get("match"), "SIMPLE") not in MATCHES:
        problems.append(("match", f"match '{entry.get('match')}' is not one of {', '.join(MATCHES)}"))
    if str(entry.get("tier") or "low").lower() not in TIERS:
        problems.append(("tier", f"tier '{entry.get('tier')}' is not one of {', '.join(TIERS)}"))
    return problems


def parse_entry(entry: dict[str, Any], where: str) -> ForeignKey:
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: expected a mapping with name, table, columns, references, got {entry!r}")
    if isinstance(entry.get("name"), str):
        where = f"{where} ({entry['name']})"
    problems = entry_problems(entry)
    if problems:
        raise CatalogError(f"{where}: {problems[0][1]}")
    return ForeignKey(
        name=entry["name"],
        tier=str(entry.get("tier") or "low").lower(),
        table=QualifiedName.parse(entry["table"]),
        columns=_columns(entry["columns"]) or (),
        references=QualifiedName.parse(entry["references"]),
        referenced_columns=_columns(entry["referenced_columns"]) or (),
        on_delete=_choice(entry.get("on_delete"), "NO ACTION"),
        on_update=_choice(entry.get("on_update"), "NO ACTION"),
        match=_choice(entry.get("match"), "SIMPLE"),
        on_delete_explicit=entry.get("on_delete") not in (None, "") and entry.get("on_delete_explicit") is not False,
    )


def load_catalog(path: str | Path | None = None) -> list[ForeignKey]:
    """Read a catalog file; every problem is one line naming the file, the entry and the fix."""
    path = Path(path) if path else DEFAULT_CATALOG
    try:
        document = yaml.safe_load(path.read_text())
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
        if fk.name in seen:
            raise CatalogError(f"{path.name}: constraint name '{fk.name}' appears twice; names must be unique")
        seen.add(fk.name)
    return sorted(keys, key=lambda fk: fk.tier_rank)
