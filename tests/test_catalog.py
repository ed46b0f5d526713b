from pathlib import Path

import pytest

from fkguard.catalog import TIERS, CatalogError, load_catalog

PLAN_ORDER = [
    "fk_workflow_instances_config_version", "fk_workflow_instances_workspace",
    "fk_workflow_stages_workflow_instance", "fk_atp_submissions_workflow_instance",
    "fk_atp_submission_documents_submission", "fk_punchlists_workflow_instance", "fk_punchlist_items_punchlist",
    "fk_atp_scope_master_workspace", "fk_vendor_master_workspace", "fk_approval_role_master_workspace",
    "fk_approval_policy_master_workspace", "fk_approval_policy_stages_policy", "fk_cluster_master_workspace",
    "fk_cluster_approver_master_cluster",
    "fk_approver_overrides_workflow_instance", "fk_workflow_stage_actions_stage",
]


def test_default_catalog_is_the_plans_16_keys_in_priority_order():
    catalog = load_catalog()
    assert [fk.name for fk in catalog] == PLAN_ORDER
    assert [sum(fk.tier == t for fk in catalog) for t in TIERS] == [2, 5, 7, 2]
    cascades = {fk.name for fk in catalog if fk.on_delete == "CASCADE"}
    assert cascades == {
        "fk_workflow_stages_workflow_instance", "fk_atp_submission_documents_submission",
        "fk_punchlist_items_punchlist", "fk_approval_policy_stages_policy", "fk_cluster_approver_master_cluster",
        "fk_approver_overrides_workflow_instance", "fk_workflow_stage_actions_stage",
    }
    assert all(fk.on_delete in ("RESTRICT", "CASCADE") for fk in catalog)
    first = catalog[0]
    assert (str(first.table), first.columns, str(first.references), first.referenced_columns) == (
        "public.workflow_instances", ("config_version_id",), "public.config_versions", ("id",))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return path


ENTRY = """constraints:
  - name: fk_a
    table: public.a
    columns: [b_id]
    references: public.b
    referenced_columns: [id]
"""


@pytest.mark.parametrize("text, message", [
    ("constraints: [", "catalog.yaml is not valid YAML at line 1; fix its syntax"),
    ("other: 1", "must have a top-level 'constraints:' list"),
    (ENTRY.replace("    columns: [b_id]\n", ""),
     "catalog.yaml entry 1 (fk_a): 'columns' must be a non-empty list of column names"),
    (ENTRY.replace("[b_id]", "[]"), "'columns' must be a non-empty list of column names"),
    (ENTRY.replace("[b_id]", "[b_id, c_id]"), "2 columns reference 1 columns; give one referenced column per column"),
    (ENTRY.replace("fk_a", "fk_" + "é" * 31), "is 65 bytes; PostgreSQL keeps only 63 and would cut it silently: shorten it"),
    (ENTRY.replace("public.b", "public."), "'public.' has an empty schema or table name; write schema.table"),
    (ENTRY + "    on_delete: EXPLODE\n", "on_delete 'EXPLODE' is not one of NO ACTION, RESTRICT, CASCADE, SET NULL, SET DEFAULT"),
    (ENTRY + "    tier: urgent\n", "tier 'urgent' is not one of critical, high, medium, low"),
    (ENTRY + ENTRY.replace("constraints:\n", "").replace("public.a", "a"),
     "constraint name 'fk_a' appears twice on public.a; PostgreSQL allows a name once per table: rename one"),
    (ENTRY + "    deferrable: maybe\n", "'deferrable' must be true or false, got 'maybe'"),
    (ENTRY + "    initially_deferred: true\n",
     "initially_deferred: true needs deferrable: true (PostgreSQL refuses INITIALLY DEFERRED on a constraint that is "
     "NOT DEFERRABLE); add deferrable: true or remove initially_deferred"),
    (ENTRY + "    deferrable: false\n    initially_deferred: true\n", "initially_deferred: true needs deferrable: true"),
    (ENTRY + "    deferable: true\n", "unknown key 'deferable': did you mean 'deferrable'?"),
    (ENTRY + "    on_delete: SET NULL (b_id)\n", "on_delete 'SET NULL (b_id)': write the columns as on_delete_columns: [..]"),
    (ENTRY + "    on_delete: SET NULL\n    on_delete_columns: [c_id]\n",
     "on_delete_columns c_id is not among the constraint's columns (b_id); name only those"),
    (ENTRY + "    on_delete: SET DEFAULT\n    on_delete_columns: [b_id, b_id]\n",
     "on_delete_columns names a column twice; name each once"),
    (ENTRY + "    on_delete: CASCADE\n    on_delete_columns: [b_id]\n",
     "on_delete_columns is for ON DELETE SET NULL or SET DEFAULT only, not CASCADE; remove it or change on_delete"),
    (ENTRY + "    on_delete: SET NULL\n    on_delete_columns: {b_id: 1}\n",
     "'on_delete_columns' must be a list of column names"),
    (ENTRY + "    on_update: SET NULL (b_id)\n",
     "on_update 'SET NULL (b_id)': PostgreSQL takes a column list for ON DELETE only"),
    (ENTRY + "    on_update: SET NULL\n    on_update_columns: [b_id]\n",
     "on_update_columns: PostgreSQL takes a column list for ON DELETE SET NULL / SET DEFAULT only, never for ON UPDATE"),
    (ENTRY + "    validated: maybe\n", "'validated' must be true or false, got 'maybe'"),
    (ENTRY + "    waivers: column-types-match\n", "'waivers' must be a list of {policy, reason, by}"),
    (ENTRY + "    waivers: [{policy: orphan-gate, reason: legacy, by: ana}]\n",
     "orphan-gate cannot be waived: accept the orphans as debt instead (fkguard remediate --action accept --reason"),
    (ENTRY + "    waivers: [{policy: column-type-match, reason: legacy, by: ana}]\n",
     "waiver of unknown policy 'column-type-match': did you mean 'column-types-match'?"),
    (ENTRY + "    waivers: [{policy: referencing-index, reason: small table}]\n",
     "the waiver of referencing-index needs a reason and who decided it (by)"),
    (ENTRY + "    waivers: [{policy: referencing-index, reason: small, by: ana, until: 2027}]\n",
     "each waiver is a mapping of policy, reason and by, nothing else"),
])
def test_bad_catalog_is_one_line_naming_the_fix(tmp_path, text, message):
    with pytest.raises(CatalogError) as err:
        load_catalog(write(tmp_path, text))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_catalog_file(tmp_path):
    with pytest.raises(CatalogError, match=r"catalog file .*nope.yaml does not exist; fix the fkguard:catalog setting"):
        load_catalog(tmp_path / "nope.yaml")


def test_set_null_spelled_with_underscore_and_schema_defaulted(tmp_path):
    fk = load_catalog(write(tmp_path, ENTRY.replace("public.a", "a") + "    on_delete: set_null\n"))[0]
    assert (fk.on_delete, str(fk.table)) == ("SET NULL", "public.a")


def test_every_attribute_parses_and_missing_ones_are_postgresqls_defaults(tmp_path):
    text = ENTRY.replace("[b_id]", "[org_id, b_id]").replace("[id]", "[org_id, id]") + (
        "    on_delete: set null\n    on_delete_columns: [b_id]\n    on_update: CASCADE\n    match: full\n"
        "    deferrable: true\n    initially_deferred: true\n")
    fk = load_catalog(write(tmp_path, text))[0]
    assert (fk.on_delete, fk.on_delete_columns, fk.on_update, fk.match, fk.deferrable, fk.initially_deferred) == (
        "SET NULL", ("b_id",), "CASCADE", "FULL", True, True)
    plain = load_catalog(write(tmp_path, ENTRY))[0]
    assert (plain.on_delete, plain.on_delete_columns, plain.on_update, plain.match, plain.deferrable,
            plain.initially_deferred) == ("NO ACTION", (), "NO ACTION", "SIMPLE", False, False)


def test_validated_false_and_waivers_are_kept_apart_from_the_definition(tmp_path):
    text = (ENTRY + "    validated: false\n    waivers:\n      - policy: column-types-match\n"
            "        reason: users.id is bigint, org ids stay below 2^31 (APMS-77)\n        by: ana\n")
    [fk] = load_catalog(write(tmp_path, text))
    [plain] = load_catalog(write(tmp_path, ENTRY))
    assert not fk.validate and plain.validate
    assert str(fk.waiver("column-types-match")) == ("column-types-match waived by ana: users.id is bigint, org ids "
                                                    "stay below 2^31 (APMS-77)")
    assert fk.waiver("referencing-index") is None
    assert fk == plain  # neither changes what PostgreSQL holds, so neither replaces the constraint
