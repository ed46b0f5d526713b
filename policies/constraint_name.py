"""constraint-name: a name PostgreSQL keeps whole, and that no other constraint of the stack uses.

PostgreSQL cuts names to 63 bytes with only a NOTICE, so two long names can silently become one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context import Finding, StackContext, fkguard_policy
from pulumi_policy import EnforcementLevel

from fkguard import live
from fkguard.catalog import MAX_IDENTIFIER_BYTES, ForeignKey

NAME = "constraint-name"


def _cut(name: str) -> bytes:
    return name.encode()[:MAX_IDENTIFIER_BYTES]


def check(fk: ForeignKey, _props: Mapping[str, Any], ctx: StackContext, _config: Mapping[str, Any]) -> list[Finding]:
    size = len(fk.name.encode())
    if size > MAX_IDENTIFIER_BYTES:
        return [Finding(f"{fk.name} is {size} bytes and PostgreSQL would cut it to {MAX_IDENTIFIER_BYTES}",
                        f"shorten it to {MAX_IDENTIFIER_BYTES} bytes or less")]
    twins = [other.name for other in ctx.catalog if other.name != fk.name and _cut(other.name) == _cut(fk.name)]
    if twins:
        return [Finding(f"{fk.name} and {', '.join(twins)} are the same name to PostgreSQL once cut to "
                        f"{MAX_IDENTIFIER_BYTES} bytes", "give each constraint a distinct name")]
    with ctx.connect() as conn:
        found = live.read_constraint(conn, fk.table, fk.name) if live.table_exists(conn, fk.table) else None
    if found is not None and found.contype != "f":
        return [Finding(f"{fk.table} already has a constraint named {fk.name} that is not a foreign key "
                        f"({found.definition})", "give the foreign key another name in its catalog entry")]
    return []


POLICY = fkguard_policy(
    NAME, "Constraint names fit in 63 bytes and are unique.", EnforcementLevel.MANDATORY, check,
    instead_of="a name another constraint of the table already has", use="a distinct name in the catalog entry",
)
