"""referencing-index (advisory): the referencing columns lead some index.

Without one, every delete or key update on the referenced table scans the referencing table to
find children, under lock, and so does ON DELETE CASCADE.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context import Finding, NotApplicable, StackContext, fkguard_policy
from pulumi_policy import EnforcementLevel

from fkguard import ddl, live, partitions
from fkguard.catalog import ForeignKey

NAME = "referencing-index"


def check(fk: ForeignKey, _props: Mapping[str, Any], ctx: StackContext, _config: Mapping[str, Any]) -> list[Finding]:
    with ctx.connect() as conn:
        if not live.table_exists(conn, fk.table):
            raise NotApplicable(f"{fk.table} does not exist, so it has no index to judge")
        if live.has_leading_index(conn, fk):
            return []
        # a partitioned table gets one per partition, attached (CONCURRENTLY is refused on the parent)
        tree = [(p.table, p.parent, p.leaf) for p in partitions.tree(conn, fk.table)]
        fix = ddl.create_index_concurrently(fk, tree).as_string(conn)
    return [Finding(f"{fk.name}: no index on {fk.table} ({', '.join(fk.columns)}), so each delete from "  # noqa: S608 (a message)
                    f"{fk.references} scans {fk.table} for children",
                    f"before the rollout: {fix};")]


POLICY = fkguard_policy(
    NAME, "Referencing columns are indexed (advice).", EnforcementLevel.ADVISORY, check,
    instead_of="unindexed referencing columns", use="CREATE INDEX CONCURRENTLY on them before the rollout",
)
