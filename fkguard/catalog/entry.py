"""One catalog entry, checked and read: each problem as (field, one line naming the fix), the same checks
for the catalog file (load_catalog) and for the provider's check at preview."""

from __future__ import annotations

import difflib
from typing import Any, cast

from fkguard.catalog.model import (
    ACTIONS,
    COLUMN_LIST_ACTIONS,
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


