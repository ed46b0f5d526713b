"""A ForeignKeyConstraint's properties, as the provider, the program and the policy pack read them."""

from __future__ import annotations

from typing import Any

from fkguard.catalog import ForeignKey, parse_entry

RESOURCE_TYPE = "pulumi-python:dynamic/fkguard:ForeignKeyConstraint"
# resource property -> catalog field
FIELDS = {
    "constraintName": "name",
    "table": "table",
    "columns": "columns",
    "references": "references",
    "referencedColumns": "referenced_columns",
    "onDelete": "on_delete",
    "onUpdate": "on_update",
    "match": "match",
    "tier": "tier",
}
PROPERTY_OF = {field: prop for prop, field in FIELDS.items()}
# A change to any of these is a different constraint: drop it, then add the new one.
REPLACE_ON = ("constraintName", "table", "columns", "references", "referencedColumns", "onDelete", "onUpdate", "match")


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
        "onDeleteExplicit": fk.on_delete_explicit,
        "onUpdate": fk.on_update,
        "match": fk.match,
        "tier": fk.tier,
        "validated": bool(validated),
    }
