"""The constraint catalog: which foreign keys a stack manages, read from one YAML file."""

from __future__ import annotations

from dataclasses import dataclass
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

    @property
    def tier_rank(self) -> int:
        return TIERS.index(self.tier)


def _required(entry: dict[str, Any], key: str, where: str) -> Any:
    if key not in entry or entry[key] in (None, "", []):
        raise CatalogError(f"{where}: '{key}' is missing; add it to the entry")
    return entry[key]


def _columns(entry: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = _required(entry, key, where)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(c, str) and c for c in value):
        raise CatalogError(f"{where}: '{key}' must be a list of column names, got {value!r}")
    return tuple(value)


def _choice(entry: dict[str, Any], key: str, allowed: tuple[str, ...], default: str, where: str) -> str:
    value = str(entry.get(key, default)).upper().replace("_", " ")
    if value not in allowed:
        raise CatalogError(f"{where}: {key} '{entry.get(key)}' is not one of {', '.join(allowed)}")
    return value


def parse_entry(entry: dict[str, Any], where: str) -> ForeignKey:
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: expected a mapping with name, table, columns, references, got {entry!r}")
    name = str(_required(entry, "name", where))
    where = f"{where} ({name})"
    tier = str(entry.get("tier", "low")).lower()
    if tier not in TIERS:
        raise CatalogError(f"{where}: tier '{tier}' is not one of {', '.join(TIERS)}")
    return ForeignKey(
        name=name,
        tier=tier,
        table=QualifiedName.parse(str(_required(entry, "table", where))),
        columns=_columns(entry, "columns", where),
        references=QualifiedName.parse(str(_required(entry, "references", where))),
        referenced_columns=_columns(entry, "referenced_columns", where),
        on_delete=_choice(entry, "on_delete", ACTIONS, "NO ACTION", where),
        on_update=_choice(entry, "on_update", ACTIONS, "NO ACTION", where),
        match=_choice(entry, "match", MATCHES, "SIMPLE", where),
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
