"""fkguard's policy pack: this file only builds it. Each policy is a module of its own."""

import sys

import column_types_align
import column_types_match
import constraint_name
import explicit_on_delete
import orphan_gate
import referenced_key_unique
import referencing_index
import safe_pattern
import tier_order
from pulumi_policy import EnforcementLevel, PolicyPack

from fkguard.stack import engine

engine.watch(engine.pack_engine(sys.argv))  # end with a killed engine, as the provider does (fkguard.stack.engine)

PolicyPack(
    name="fkguard",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        orphan_gate.POLICY,
        safe_pattern.POLICY,
        explicit_on_delete.POLICY,
        constraint_name.POLICY,
        column_types_match.POLICY,
        column_types_align.POLICY,
        referenced_key_unique.POLICY,
        referencing_index.POLICY,
        tier_order.POLICY,
    ],
)
