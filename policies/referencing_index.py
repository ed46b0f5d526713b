"""referencing-index: the referencing columns lead some valid index.

Without one, every delete or key update on the referenced table scans the referencing table to
find children, under lock, and so does ON DELETE CASCADE. A key whose catalog entry leaves `index` at
auto (or says required) gets one from fkguard before it is added (resources/supporting_index.py), so only
`index: none` keys are judged. Advisory by default; a stack makes it mandatory in its policy config with
mandatoryAboveRows (and onDelete), which then limits it to the keys whose table holds more rows than that
(the planner's estimate) and whose ON DELETE is listed: the ones whose parent deletes would scan for long.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context import PolicyFinding, Requires, StackContext, fkguard_policy
from pulumi_policy import EnforcementLevel, PolicyConfigSchema

from fkguard import ddl, indexes, introspect, partitions
from fkguard.catalog import ACTIONS, ForeignKey

NAME = "referencing-index"


# Every action whose parent delete looks the children up (SET DEFAULT too, but the list is these).
DEFAULT_ON_DELETE = ["CASCADE", "SET NULL", "RESTRICT", "NO ACTION"]


def check(fk: ForeignKey, _properties: Mapping[str, Any], ctx: StackContext, config: Mapping[str, Any]) -> list[PolicyFinding]:
    entry = ctx.entry(fk)
    with ctx.connect() as conn:
        if entry.index != "none":
            return []  # fkguard adopts or builds it before the key (fkguard.indexes)
        if introspect.has_leading_index(conn, fk):
            return []
        threshold = config.get("mandatoryAboveRows")
        if threshold is not None and (fk.on_delete not in config.get("onDelete", DEFAULT_ON_DELETE)
                                      or indexes.row_estimate(conn, fk.table) <= threshold):
            return []
        # a partitioned table gets one per partition, attached (CONCURRENTLY is refused on the parent)
        tree = [(p.table, p.parent, p.leaf) for p in partitions.tree(conn, fk.table)]
        fix = ddl.create_index_concurrently(fk, tree).as_string(conn)
    return [PolicyFinding(f"{fk.label}: no index on {fk.table} ({', '.join(fk.columns)}), so each delete from "  # noqa: S608 (a message)
                    f"{fk.references} scans {fk.table} for children",
                    f"drop `index: none` from its catalog entry (fkguard then builds it before the key), or before "
                    f"the rollout: {fix};")]


POLICY = fkguard_policy(
    NAME, "Referencing columns are indexed (advice; mandatory above a row count where a stack says so).",
    EnforcementLevel.ADVISORY, check, requires=Requires(("table",), "so it has no index to judge"),
    instead_of="unindexed referencing columns (`index: none`)",
    use="`index: auto` (fkguard builds the index CONCURRENTLY before the key), or CREATE INDEX CONCURRENTLY "
        "on them before the rollout",
    config_schema=PolicyConfigSchema({
        "mandatoryAboveRows": {"type": "integer", "minimum": 0,
                               "description": "Judge only keys on tables above this many rows (unset: every key)."},
        "onDelete": {"type": "array", "items": {"type": "string", "enum": list(ACTIONS)}, "default": DEFAULT_ON_DELETE,
                     "description": "With mandatoryAboveRows: the ON DELETE actions judged."}}),
)
