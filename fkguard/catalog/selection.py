"""The part of a catalog one stack owns: a catalog can be split into several stacks of one database, each
owning the keys whose referencing table is in its schemas (`fkguard:schemas`) and of its tiers (`fkguard:tiers`).

The catalog is read whole and split here, once: the program declares only the owned keys, and the pack and
every command see the same part (fkguard.stack.config.StackConfig.part), so `fkguard status`, `audit`, `verify`
and `rollback` of a split stack speak of its own keys and never report the others' as missing. Labels are the
whole catalog's (fkguard.catalog.labelled), so a key keeps its resource name whichever stack owns it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from fkguard.catalog.model import TIERS, CatalogError, ForeignKey


@dataclass(frozen=True)
class Selection:
    """Which keys of the catalog a stack owns: () schemas is every schema, and every tier by default."""

    schemas: tuple[str, ...] = ()
    tiers: tuple[str, ...] = TIERS

    @property
    def whole(self) -> bool:
        return not self.schemas and self.tiers == TIERS

    def in_scope(self, fk: ForeignKey) -> bool:
        """Whether the key's table is in the stack's schemas (whatever its tier)."""
        return not self.schemas or fk.table.schema in self.schemas

    def owns(self, fk: ForeignKey) -> bool:
        return self.in_scope(fk) and fk.tier in self.tiers

    def foreign_tiers_before(self, tier: str) -> tuple[str, ...]:
        """The tiers before `tier` that this stack leaves to other stacks (a split by tier)."""
        return tuple(t for t in TIERS[: TIERS.index(tier)] if t not in self.tiers)

    def describe(self) -> str:
        parts = ([f"schemas {', '.join(self.schemas)}"] if self.schemas else []) + (
            [f"tiers {', '.join(self.tiers)}"] if self.tiers != TIERS else [])
        return "; ".join(parts) or "the whole catalog"


@dataclass(frozen=True)
class Part:
    """A catalog split by a stack's selection: the keys it owns, and those other stacks own."""

    selection: Selection
    owned: list[ForeignKey]
    others: list[ForeignKey] = field(default_factory=list)


def split(catalog: list[ForeignKey], selection: Selection, source: str = "the catalog") -> Part:
    """The stack's part of `catalog`; a selection that names a schema no key is in, or that owns nothing, is
    refused in one line (a misspelt schema must not leave a stack owning nothing, silently)."""
    if selection.whole:
        return Part(selection, list(catalog))
    present = sorted({fk.table.schema for fk in catalog})
    for schema in selection.schemas:
        if schema not in present:
            close = difflib.get_close_matches(schema, present, n=1)
            raise CatalogError(
                f"fkguard:schemas names {schema!r}, which no key of {source} is in "
                + (f"(did you mean {close[0]!r}?)" if close else f"(its tables are in {', '.join(present) or 'none'})")
                + "; fix fkguard:schemas", field="schemas")
    owned = [fk for fk in catalog if selection.owns(fk)]
    if not owned:
        raise CatalogError(f"fkguard:schemas and fkguard:tiers ({selection.describe()}) select no key of {source}; "
                           f"widen them or remove them", field="tiers")
    return Part(selection, owned, [fk for fk in catalog if not selection.owns(fk)])
