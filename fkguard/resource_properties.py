"""A ForeignKeyConstraint's properties, as the provider, the program and the policy pack read them."""

from __future__ import annotations

from typing import Any

from fkguard.catalog import ForeignKey, parse_entry
from fkguard.problems import Problem

# The dynamic resource's module and name (resources/foreign_key.py declares its class with them), and the
# type token pulumi.dynamic.Resource builds from them: the pack and the stack readers match on it, so it
# is derived here, never written out again (tests/test_resource_type.py builds the resource and compares).
MODULE = "fkguard"
TYPE_NAME = "ForeignKeyConstraint"


def type_token(name: str) -> str:
    """The type a Python dynamic resource of fkguard's module, declared with this name, has in a stack's state."""
    return f"pulumi-python:dynamic/{MODULE}:{name}"


RESOURCE_TYPE = type_token(TYPE_NAME)
# resource property -> catalog field
FIELDS = {
    "constraintName": "name",
    "table": "table",
    "columns": "columns",
    "references": "references",
    "referencedColumns": "referenced_columns",
    "onDelete": "on_delete",
    "onDeleteColumns": "on_delete_columns",
    "onUpdate": "on_update",
    "match": "match",
    "deferrable": "deferrable",
    "initiallyDeferred": "initially_deferred",
    "tier": "tier",
    "waivers": "waivers",
}
PROPERTY_OF = {field: prop for prop, field in FIELDS.items()}
# A change to any of these is a different constraint: drop it, then add the new one.
REPLACE_ON = ("constraintName", "table", "columns", "references", "referencedColumns", "onDelete", "onDeleteColumns",
              "onUpdate", "match")
# These change in place (ALTER CONSTRAINT), keeping the constraint and its validation: see ddl.alter_deferrable.
ALTER_ON = ("deferrable", "initiallyDeferred")
# What a property missing from a stack's state means: state written before it existed holds the default.
DEFAULTS: dict[str, Any] = {"onDeleteColumns": [], "deferrable": False, "initiallyDeferred": False, "waivers": []}


def value(props: dict[str, Any], key: str) -> Any:
    """A property as recorded, the default standing in for one an older fkguard never wrote."""
    found = props.get(key)
    return DEFAULTS.get(key) if found is None else found


def changed(olds: dict[str, Any], news: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    return [key for key in keys if value(olds, key) != value(news, key)]


def to_entry(props: dict[str, Any]) -> dict[str, Any]:
    entry = {field: props.get(prop) for prop, field in FIELDS.items()}
    entry["on_delete_explicit"] = props.get("onDeleteExplicit", True)
    return entry


def to_foreign_key(props: dict[str, Any]) -> ForeignKey:
    return parse_entry(to_entry(props), f"constraint {props.get('constraintName')}")


def inputs_of(fk: ForeignKey, validated: bool) -> dict[str, Any]:
    return {
        "constraintName": fk.name,
        "table": str(fk.table),
        "columns": list(fk.columns),
        "references": str(fk.references),
        "referencedColumns": list(fk.referenced_columns),
        "onDelete": fk.on_delete,
        "onDeleteColumns": list(fk.on_delete_columns),
        "onDeleteExplicit": fk.on_delete_explicit,
        "onUpdate": fk.on_update,
        "match": fk.match,
        "deferrable": fk.deferrable,
        "initiallyDeferred": fk.initially_deferred,
        "tier": fk.tier,
        # Shown by preview --diff and read by the policy pack, which sets these policies aside.
        "waivers": [{"policy": w.policy, "reason": w.reason, "by": w.by} for w in fk.waivers],
        "validated": bool(validated),
    }


# What the provider's check found with rollout.preflight, among the inputs it returns: the engine hands those very
# inputs to the policy pack right after, which reads them instead of asking the database the same again (six
# catalog queries per key and pass). Written by the check only once it ran to its end; absent, the pack asks itself.
PREFLIGHT = "preflight"


def with_preflight(inputs: dict[str, Any], found: list[Problem]) -> dict[str, Any]:
    return {**inputs, PREFLIGHT: [{"field": p.field, "code": p.code, "message": p.message} for p in found]}


def without_preflight(props: dict[str, Any]) -> dict[str, Any]:
    """The program's inputs less any preflight of theirs: only the check's own may reach the pack."""
    return {k: v for k, v in props.items() if k != PREFLIGHT}


def recorded_preflight(props: Any) -> list[Problem] | None:
    """What the provider's check found, or None when it did not say (an older provider, a check cut short)."""
    found = props.get(PREFLIGHT) if hasattr(props, "get") else None
    if not isinstance(found, list):
        return None
    try:
        return [Problem(str(p["field"]), str(p["code"]), str(p["message"])) for p in found]
    except (KeyError, TypeError):
        return None
