"""explicit-on-delete: every foreign key says what deleting its parent does.

Left out, PostgreSQL's NO ACTION applies: a choice nobody made. The plan decides it per key
(RESTRICT for masters, CASCADE for children).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context import NOTHING, PolicyFinding, StackContext, fkguard_policy
from pulumi_policy import EnforcementLevel

from fkguard.catalog import ForeignKey

NAME = "explicit-on-delete"


def check(fk: ForeignKey, _properties: Mapping[str, Any], _ctx: StackContext, _config: Mapping[str, Any]) -> list[PolicyFinding]:
    if fk.on_delete_explicit:
        return []
    return [PolicyFinding(f"{fk.label} does not say what deleting a row of {fk.references} does, so PostgreSQL's NO ACTION "
                    f"applies by default",
                    "state it in the catalog entry: on_delete: RESTRICT (a parent in use cannot go) or CASCADE "
                    "(its children go with it)")]


POLICY = fkguard_policy(
    NAME, "Every foreign key states its ON DELETE action.", EnforcementLevel.MANDATORY, check,
    requires=NOTHING, instead_of="leaving on_delete out of the catalog entry",
    use="on_delete: RESTRICT or CASCADE, stated in the entry",
)
