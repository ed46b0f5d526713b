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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import yaml

from fkguard.errors import FkguardError

TIERS: tuple[str, ...] = ("critical", "high", "medium", "low")
ACTIONS: tuple[str, ...] = ("NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT")
MATCHES: tuple[str, ...] = ("SIMPLE", "FULL")
# The actions that take a column list (ON DELETE only: PostgreSQL's grammar has none for ON UPDATE).
COLUMN_LIST_ACTIONS: tuple[str, ...] = ("SET NULL", "SET DEFAULT")
# Every key an entry may have. on_delete_explicit is the provider's own (see props.to_entry).
KEYS: tuple[str, ...] = ("name", "tier", "table", "columns", "references", "referenced_columns", "on_delete",
                         "on_delete_columns", "on_update", "match", "deferrable", "initially_deferred",
                         "validated", "index", "waivers", "on_delete_explicit")
# The policies a catalog entry may set aside (policies/, less orphan-gate); pack_test keeps this list true.
WAIVABLE: tuple[str, ...] = ("safe-pattern", "explicit-on-delete", "constraint-name", "column-types-match",
                             "column-types-align", "referenced-key-unique", "referencing-index", "tier-order")
# What fkguard does about the index on the referencing columns (fkguard.operations.build_index): auto builds one when no
# valid index leads with them, required does the same and makes referencing-index count the key whatever its
# size, none leaves it to the team (the policy's advice stays).
INDEX_CHOICES: tuple[str, ...] = ("auto", "required", "none")
MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1: PostgreSQL cuts longer names with only a NOTICE

DEFAULT_CATALOG = Path(__file__).parent / "apms" / "catalog.yaml"


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


def _index_choice(value: Any) -> str:
    return "auto" if value in (None, "") else str(value).strip().lower()


def _flag(value: Any) -> bool | None:
    """true/false (missing means false); None for anything else, which is refused."""
    if value is None:
        return False
    return value if isinstance(value, bool) else None


def _column_list(value: Any) -> tuple[str, ...] | None:
    """An optional list of column names: missing or empty is (); None when it is not a list of names."""
    if value in (None, [], ()):
        return ()
    return _columns(value)


def _waivers(value: Any) -> tuple[Waiver, ...] | str:
    """The waivers of an entry, or the one-line problem with them."""
    if value in (None, []):
        return ()
    if not isinstance(value, (list, tuple)):
        return "'waivers' must be a list of {policy, reason, by}"
    found: list[Waiver] = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"policy", "reason", "by"}:
            return "each waiver is a mapping of policy, reason and by, nothing else"
        policy, reason, by = (str(item.get(k) or "").strip() for k in ("policy", "reason", "by"))
        if policy == "orphan-gate":
            return ("orphan-gate cannot be waived: accept the orphans as debt instead "
                    "(fkguard remediate --action accept --reason …), which counts them")
        if policy not in WAIVABLE:
            close = difflib.get_close_matches(policy, WAIVABLE, n=1)
            return f"waiver of unknown policy '{policy}'" + (f": did you mean '{close[0]}'?" if close else
                                                             f"; the policies are {', '.join(WAIVABLE)}")
        if not reason or not by:
            return f"the waiver of {policy} needs a reason and who decided it (by)"
        if any(w.policy == policy for w in found):
            return f"{policy} is waived twice; keep one waiver per policy"
        found.append(Waiver(policy, reason, by))
    return tuple(found)


def _unknown_keys(entry: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    for key in entry:
        if key == "on_update_columns":
            problems.append((key, "on_update_columns: PostgreSQL takes a column list for ON DELETE SET NULL / "
                                  "SET DEFAULT only, never for ON UPDATE; remove it"))
        elif key not in KEYS:
            close = difflib.get_close_matches(str(key), KEYS, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"the keys are {', '.join(KEYS[:-1])}"
            problems.append((str(key), f"unknown key '{key}': {hint}"))
    return problems


def _action_problems(entry: dict[str, Any], columns: tuple[str, ...] | None) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for key in ("on_delete", "on_update"):
        value = _choice(entry.get(key), "NO ACTION")
        if value in ACTIONS:
            continue
        action, paren, _ = value.partition("(")
        if paren and action.strip() in COLUMN_LIST_ACTIONS:
            fix = ("write the columns as on_delete_columns: [..]" if key == "on_delete"
                   else "PostgreSQL takes a column list for ON DELETE only")
            problems.append((key, f"{key} '{entry.get(key)}': {fix}"))
        else:
            problems.append((key, f"{key} '{entry.get(key)}' is not one of {', '.join(ACTIONS)}"))
    set_columns = _column_list(entry.get("on_delete_columns"))
    if set_columns is None:
        problems.append(("on_delete_columns", "'on_delete_columns' must be a list of column names"))
    elif set_columns:
        on_delete = _choice(entry.get("on_delete"), "NO ACTION")
        if on_delete not in COLUMN_LIST_ACTIONS:
            problems.append(("on_delete_columns", f"on_delete_columns is for ON DELETE SET NULL or SET DEFAULT only, "
                                                  f"not {on_delete}; remove it or change on_delete"))
        # PostgreSQL drops a repeated column silently, so the catalog would never match what it stored.
        if len(set(set_columns)) != len(set_columns):
            problems.append(("on_delete_columns", "on_delete_columns names a column twice; name each once"))
        outside = [c for c in set_columns if columns and c not in columns]
        if outside:
            problems.append(("on_delete_columns", f"on_delete_columns {', '.join(outside)} is not among the "
                                                  f"constraint's columns ({', '.join(columns or ())}); "
                                                  f"name only those"))
    return problems


def entry_problems(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """Every problem of one catalog entry (or resource's inputs), as (field, one-line message with the fix)."""
    problems: list[tuple[str, str]] = _unknown_keys(entry)
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
    problems += _action_problems(entry, cols)
    if _choice(entry.get("match"), "SIMPLE") not in MATCHES:
        problems.append(("match", f"match '{entry.get('match')}' is not one of {', '.join(MATCHES)}"))
    if str(entry.get("tier") or "low").lower() not in TIERS:
        problems.append(("tier", f"tier '{entry.get('tier')}' is not one of {', '.join(TIERS)}"))
    if _index_choice(entry.get("index")) not in INDEX_CHOICES:
        problems.append(("index", f"index '{entry.get('index')}' is not one of {', '.join(INDEX_CHOICES)}; "
                                  f"auto (the default) builds the index when none leads with the columns"))
    waivers = _waivers(entry.get("waivers"))
    if isinstance(waivers, str):
        problems.append(("waivers", waivers))
    elif _index_choice(entry.get("index")) == "required" and any(w.policy == "referencing-index" for w in waivers):
        problems.append(("index", "index: required and a waiver of referencing-index contradict each other; "
                                  "keep one"))
    if entry.get("validated") is not None and not isinstance(entry.get("validated"), bool):
        problems.append(("validated", f"'validated' must be true or false, got {entry.get('validated')!r}"))
    deferrable, deferred = _flag(entry.get("deferrable")), _flag(entry.get("initially_deferred"))
    for key, flag in (("deferrable", deferrable), ("initially_deferred", deferred)):
        if flag is None:
            problems.append((key, f"'{key}' must be true or false, got {entry.get(key)!r}"))
    if deferred and deferrable is False:
        problems.append(("initially_deferred", "initially_deferred: true needs deferrable: true (PostgreSQL refuses "
                                               "INITIALLY DEFERRED on a constraint that is NOT DEFERRABLE); "
                                               "add deferrable: true or remove initially_deferred"))
    return problems


def parse_entry(entry: dict[str, Any], where: str) -> ForeignKey:
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: expected a mapping with name, table, columns, references, got {entry!r}",
                           entry=where)
    if isinstance(entry.get("name"), str):
        where = f"{where} ({entry['name']})"
    problems = entry_problems(entry)
    if problems:
        name = entry["name"] if isinstance(entry.get("name"), str) else where
        raise CatalogError(f"{where}: {problems[0][1]}", entry=name, field=problems[0][0])
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
        deferrable=bool(_flag(entry.get("deferrable"))),
        initially_deferred=bool(_flag(entry.get("initially_deferred"))),
        on_delete_columns=_column_list(entry.get("on_delete_columns")) or (),
        on_delete_explicit=entry.get("on_delete") not in (None, "") and entry.get("on_delete_explicit") is not False,
        validate=entry.get("validated") is not False,
        index=_index_choice(entry.get("index")),
        waivers=cast(tuple[Waiver, ...], _waivers(entry.get("waivers"))),  # a str (a problem) was refused above
    )


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
