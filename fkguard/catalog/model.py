"""The catalog's terms: a foreign key as the catalog states it, the names it is made of, the choices an entry
may make, and the error that names the entry and the field at fault."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fkguard.errors import FkguardError

TIERS: tuple[str, ...] = ("critical", "high", "medium", "low")
ACTIONS: tuple[str, ...] = ("NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT")
MATCHES: tuple[str, ...] = ("SIMPLE", "FULL")
# The actions that take a column list (ON DELETE only: PostgreSQL's grammar has none for ON UPDATE).
COLUMN_LIST_ACTIONS: tuple[str, ...] = ("SET NULL", "SET DEFAULT")
# Every key an entry may have. on_delete_explicit is the provider's own (see fkguard.resource_properties.to_entry).
KEYS: tuple[str, ...] = ("name", "tier", "table", "columns", "references", "referenced_columns", "on_delete",
                         "on_delete_columns", "on_update", "match", "deferrable", "initially_deferred",
                         "validated", "index", "waivers", "on_delete_explicit")
# The policies a catalog entry may set aside (policies/, less orphan-gate); pack_test keeps this list true.
WAIVABLE: tuple[str, ...] = ("safe-pattern", "explicit-on-delete", "constraint-name", "column-types-match",
                             "column-types-align", "referenced-key-unique", "referencing-index", "tier-order")
# What fkguard does about the index on the referencing columns (fkguard.operations.build_index): auto builds one
# when no valid index leads with them, required does the same and makes referencing-index count the key whatever
# its size, none leaves it to the team (the policy's advice stays).
INDEX_CHOICES: tuple[str, ...] = ("auto", "required", "none")
MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1: PostgreSQL cuts longer names with only a NOTICE

DEFAULT_CATALOG = Path(__file__).parents[1] / "apms" / "catalog.yaml"


class CatalogError(FkguardError):
    """A catalog that cannot be used; the message names the entry and the fix."""

    def __init__(self, message: str, *, entry: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.entry = entry  # the constraint's name (or "<file> entry <n>"); None for the file as a whole
        self.field = field  # the catalog key at fault, when there is one


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
class Waiver:
    """One policy set aside for one constraint: which, why, and who decided."""

    policy: str
    reason: str
    by: str

    def __str__(self) -> str:
        return f"{self.policy} waived by {self.by}: {self.reason}"


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
    deferrable: bool = False
    initially_deferred: bool = False
    # ON DELETE SET NULL / SET DEFAULT of only these columns; () means all of `columns`.
    on_delete_columns: tuple[str, ...] = ()
    # Whether the catalog said ON DELETE itself, rather than leaving PostgreSQL's default.
    on_delete_explicit: bool = field(default=True, compare=False)
    # False keeps this one NOT VALID on purpose while its tier validates (not part of the definition).
    validate: bool = field(default=True, compare=False)
    # The supporting index: one of INDEX_CHOICES (not part of the constraint's definition).
    index: str = field(default="auto", compare=False)
    waivers: tuple[Waiver, ...] = field(default=(), compare=False)
    # How the catalog, the stack and every command call this key: its name where no other entry of the
    # catalog has that name, else schema.table.name (PostgreSQL makes a name unique per table only).
    # Set by load_catalog; a key built on its own (a resource's inputs) goes by its name.
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.name)

    @property
    def qualified(self) -> str:
        """schema.table.name: unique in any catalog and any database."""
        return f"{self.table}.{self.name}"

    def called(self, text: str) -> bool:
        """Whether a user's `text` names this key: its label, or its schema.table.name."""
        return text in (self.label, self.qualified)

    @property
    def tier_rank(self) -> int:
        return TIERS.index(self.tier)

    def waiver(self, policy: str) -> Waiver | None:
        return next((w for w in self.waivers if w.policy == policy), None)


