"""A catalog split across stacks of one database: the part each stack owns (fkguard:schemas, fkguard:tiers, read
once by StackConfig.part), the one-line refusals of a selection that owns nothing or a key another stack owns, and
the fleet's checks of stacks sharing a database (disjoint parts, a tier validated in a wave after the earlier
tiers' stacks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from fkguard import fleet_split
from fkguard.catalog import CatalogError
from fkguard.catalog.selection import Selection
from fkguard.commands import common
from fkguard.fleet import Wave
from fkguard.fleet_stack import FleetError
from fkguard.stack import identity
from fkguard.stack.config import StackConfig
from fkguard.stack.context import StackContext
from fkguard.stack.options import Options, OptionsError


def entry(name: str, table: str, tier: str = "low") -> dict:
    schema = table.split(".")[0]
    return {"name": name, "tier": tier, "table": table, "columns": ["p_id"], "references": f"{schema}.p",
            "referenced_columns": ["id"], "on_delete": "RESTRICT"}


ENTRIES = [entry("fk_a_p", "billing.a", "critical"), entry("fk_b_p", "billing.b", "medium"),
           entry("fk_c_p", "crm.c", "critical"), entry("fk_c_p", "billing.c", "high"),  # one name on two tables
           entry("fk_d_p", "crm.d", "low")]


@pytest.fixture()
def catalog_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.yaml"
    path.write_text(yaml.safe_dump({"constraints": ENTRIES}))
    return path


def part(catalog_file: Path, **options: str):
    values = {"fkguard:catalog": catalog_file.name, **{f"fkguard:{k}": v for k, v in options.items()}}
    return StackConfig(values, "stack 'qa-a'").part(catalog_file.parent)


def test_schemas_select_the_keys_whose_table_is_in_them_with_the_whole_catalogs_labels(catalog_file):
    billing = part(catalog_file, schemas="billing")
    assert [fk.label for fk in billing.owned] == ["fk_a_p", "billing.c.fk_c_p", "fk_b_p"]  # in tier order
    assert [fk.label for fk in billing.others] == ["crm.c.fk_c_p", "fk_d_p"]
    crm = part(catalog_file, schemas='["crm"]')
    assert {fk.qualified for fk in crm.owned}.isdisjoint({fk.qualified for fk in billing.owned})
    assert len(crm.owned) + len(billing.owned) == len(ENTRIES)


def test_tiers_and_schemas_together_and_the_whole_catalog_by_default(catalog_file):
    assert [fk.label for fk in part(catalog_file, schemas="billing,crm", tiers="critical").owned] == [
        "fk_a_p", "crm.c.fk_c_p"]
    whole = part(catalog_file)
    assert (len(whole.owned), whole.others, whole.selection.whole) == (len(ENTRIES), [], True)


@pytest.mark.parametrize("options, message", [
    ({"schemas": "biling"}, "fkguard:schemas names 'biling', which no key of catalog keys.yaml is in (did you mean "
                            "'billing'?); fix fkguard:schemas"),
    ({"schemas": "sales"}, "fkguard:schemas names 'sales', which no key of catalog keys.yaml is in (its tables are "
                           "in billing, crm); fix fkguard:schemas"),
    ({"schemas": "crm", "tiers": "high"}, "fkguard:schemas and fkguard:tiers (schemas crm; tiers high) select no key "
                                          "of catalog keys.yaml; widen them or remove them"),
])
def test_a_selection_that_owns_nothing_is_refused_in_one_line(catalog_file, options, message):
    with pytest.raises(CatalogError) as refused:
        part(catalog_file, **options)
    assert str(refused.value) == message


@pytest.mark.parametrize("value, message", [
    ({"fkguard:schemas": 3}, "fkguard:schemas must be a list of schema names, like billing,crm, got 3"),
    ({"fkguard:schemas": "[billing"}, "fkguard:schemas is not a valid list: '[billing'"),
    ({"fkguard:tiers": "urgent"}, "fkguard:tiers: unknown tier 'urgent'; use critical, high, medium, low, all or none"),
    ({"fkguard:schema": "billing"}, "unknown config key fkguard:schema in the stack: did you mean fkguard:schemas?"),
])
def test_bad_selection_settings_are_named(value, message):
    with pytest.raises(OptionsError) as refused:
        Options.from_config(value)
    assert str(refused.value) == message


def test_foreign_tiers_are_the_earlier_ones_left_to_other_stacks():
    late = Selection(tiers=("medium", "low"))
    assert (late.foreign_tiers_before("low"), late.foreign_tiers_before("medium")) == (("critical", "high"),) * 2
    assert Selection().foreign_tiers_before("low") == ()
    assert Selection(("crm",)).describe() == "schemas crm" and Selection().describe() == "the whole catalog"


def context(stack: str, catalog_file: Path, **options: str) -> StackContext:
    config = StackConfig({"fkguard:catalog": catalog_file.name, **{f"fkguard:{k}": v for k, v in options.items()}})
    owned = config.part(catalog_file.parent)
    return StackContext(stack, catalog_file.parent, None, config.options, owned.owned, None,  # type: ignore[arg-type]
                        others=owned.others)


def test_a_command_names_the_stack_a_key_belongs_to(catalog_file):
    mine = context("qa-a", catalog_file, schemas="billing")
    assert [fk.label for fk in common.selected(mine, ["billing.c.fk_c_p", "fk_a_p"])] == ["fk_a_p", "billing.c.fk_c_p"]
    with pytest.raises(common.CommandError) as refused:
        common.selected(mine, ["fk_d_p"])
    assert str(refused.value) == ("fk_d_p is not stack qa-a's: its fkguard:schemas / fkguard:tiers (schemas billing) "
                                  "leave it to another stack of the catalog; run this against the stack that owns it")
    with pytest.raises(CatalogError, match="no constraint 'fk_zz' in the catalog"):
        common.selected(mine, ["fk_zz"])


DATABASE = identity.Identity("7400000000000000001", 16384, "apms", "15.10")


@dataclass
class Plan:
    waves: list[tuple[str, list[str]]]
    options: dict[str, dict[str, str]] = field(default_factory=dict)

    def check(self, catalog_file: Path, reached: dict[str, identity.Identity | None] | None = None) -> None:
        contexts = {s: context(s, catalog_file, **self.options.get(s, {})) for _, stacks in self.waves for s in stacks}
        reached = reached or dict.fromkeys(contexts, DATABASE)
        plan = [(Wave(name, tuple(stacks), 1), stacks) for name, stacks in self.waves]
        original = fleet_split.database_of
        fleet_split.database_of = lambda c: reached[c.stack]  # type: ignore[assignment]
        try:
            fleet_split.check(plan, contexts, lambda items, work: [work(i) for i in items])
        finally:
            fleet_split.database_of = original  # type: ignore[assignment]


def test_stacks_of_one_database_owning_disjoint_parts_pass(catalog_file):
    Plan([("all", ["qa-a", "qa-b"])], {"qa-a": {"schemas": "billing"}, "qa-b": {"schemas": "crm"}}).check(catalog_file)


def test_two_stacks_of_one_database_owning_one_key_are_refused(catalog_file):
    with pytest.raises(FleetError) as refused:
        Plan([("all", ["qa-a", "qa-b"])], {"qa-a": {"schemas": "billing"}}).check(catalog_file)
    assert str(refused.value) == (
        "stacks 'qa-a' and 'qa-b' both own fk_a_p and 2 more of database apms (cluster 7400000000000000001, database "
        "oid 16384, PostgreSQL 15.10): give each stack of one database its own part of the catalog with "
        "fkguard:schemas or fkguard:tiers")
    # The same parts on two databases (one per tenant) are a fleet's ordinary case; an unreachable one fails later.
    Plan([("all", ["qa-a", "qa-b"])]).check(catalog_file, {"qa-a": DATABASE, "qa-b": None})


TIER_SPLIT = {"qa-early": {"tiers": "critical,high", "validateTiers": "all"},
              "qa-late": {"tiers": "medium,low", "validateTiers": "all"}}


def test_a_tier_validated_beside_the_stack_of_an_earlier_tier_is_refused(catalog_file):
    with pytest.raises(FleetError) as refused:
        Plan([("all", ["qa-early", "qa-late"])], TIER_SPLIT).check(catalog_file)
    assert str(refused.value) == ("stack 'qa-late' validates tier medium while stack 'qa-early', which owns the earlier "
                                  "critical, high of its database, runs in the same wave (all): put 'qa-late' in a "
                                  "wave after 'qa-early''s")
    with pytest.raises(FleetError, match="runs in a later wave \\(second\\)"):
        Plan([("first", ["qa-late"]), ("second", ["qa-early"])], TIER_SPLIT).check(catalog_file)
    Plan([("first", ["qa-early"]), ("second", ["qa-late"])], TIER_SPLIT).check(catalog_file)
    adding_only = {s: {"tiers": o["tiers"]} for s, o in TIER_SPLIT.items()}  # adds need no order between stacks
    Plan([("all", ["qa-early", "qa-late"])], adding_only).check(catalog_file)


def test_a_schema_split_validates_every_tier_in_parallel(catalog_file):
    both = {"qa-a": {"schemas": "billing", "validateTiers": "all"}, "qa-b": {"schemas": "crm", "validateTiers": "all"}}
    Plan([("all", ["qa-a", "qa-b"])], both).check(catalog_file)  # each owns every tier of its schemas

