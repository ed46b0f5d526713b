"""What a discovery finds: a candidate key with its evidence, and the discovery's result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fkguard.catalog import ForeignKey, QualifiedName
from fkguard.discover.schema import Existing
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
