"""The provider called directly (fast), against the real test database: check, diff, create,
update, delete and read, each asserting what pg_constraint then says."""


import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from fkguard import introspect
from fkguard.apms.generate import generate
from fkguard.catalog import load_catalog
from fkguard.resource_properties import inputs_of
from fkguard.rollout import RolloutError
from resources.foreign_key import ForeignKeyConstraintProvider

CATALOG = load_catalog()
CONFIG_FK = CATALOG[0]  # fk_workflow_instances_config_version, RESTRICT


@pytest.fixture()
def apms(conn):
    generate(conn, 1000, {CATALOG[1]: 3}, progress=lambda _: None)  # 3 orphans for fk_workflow_instances_workspace
    return conn


def props(fk=CONFIG_FK, validated=False, **changes):
    return {**inputs_of(fk, validated), **changes}


@pytest.mark.parametrize("change, field, message", [
    ({"onDelete": "DESTROY"}, "onDelete", "on_delete 'DESTROY' is not one of NO ACTION, RESTRICT"),
    ({"columns": []}, "columns", "'columns' must be a non-empty list of column names"),
    ({"referencedColumns": ["id", "code"]}, "referencedColumns", "1 columns reference 2 columns"),
    ({"constraintName": "x" * 64}, "constraintName", "is 64 bytes; PostgreSQL keeps only 63 and would cut it"),
    ({"match": "PARTIAL"}, "match", "match 'PARTIAL' is not one of SIMPLE, FULL"),
    ({"validated": "yes"}, "validated", "'validated' must be true or false"),
])
def test_check_refuses_bad_input_by_field(provider, change, field, message):
    result = provider.check({}, {**props(), **change})
    assert [(f.property, message in f.reason) for f in result.failures] == [(field, True)]


@pytest.mark.parametrize("change, field, message", [
    ({"table": "public.nope"}, "table", "table public.nope does not exist; create it first or fix the name"),
    ({"table": "ghost.workflow_instances"}, "table", "(schema 'ghost' does not exist either)"),
    ({"columns": ["config_id"]}, "table", "column 'config_id' does not exist in public.workflow_instances"),
    ({"referencedColumns": ["status"]}, "referencedColumns",
     "public.config_versions (status) has no primary key or unique constraint; PostgreSQL refuses to reference it"),
    ({"onDelete": "SET NULL"}, "onDelete", "ON DELETE SET NULL on public.workflow_instances.config_version_id, "
                                           "which is NOT NULL: every such delete would fail"),
])
def test_check_asks_the_database_at_preview(provider, apms, change, field, message):
    result = provider.check({}, props(**change))
    assert [f.property for f in result.failures] == [field]
    assert message in result.failures[0].reason


def test_check_of_a_good_constraint_passes_and_plans_its_sql(provider, apms):
    result = provider.check({}, props(validated=True))
    assert result.failures == []
    first, second = result.inputs["plannedSql"]
    assert first.startswith('ALTER TABLE "public"."workflow_instances" ADD CONSTRAINT')
    assert "NOT VALID;  -- SHARE ROW EXCLUSIVE on public.workflow_instances and public.config_versions" in first
    assert second.startswith('ALTER TABLE "public"."workflow_instances" VALIDATE CONSTRAINT')
    assert "in its own transaction: SHARE UPDATE EXCLUSIVE on public.workflow_instances" in second


def test_check_records_what_its_preflight_found_for_the_pack_and_nothing_the_program_claims(provider, apms):
    accepted = provider.check({}, props(validated=True, preflight=[]))
    assert accepted.inputs["preflight"] == []
    refused = provider.check({}, props(referencedColumns=["status"]))
    assert [p["code"] for p in refused.inputs["preflight"]] == ["key-not-unique"]
    assert refused.inputs["preflight"][0]["message"] == refused.failures[0].reason
    # A preflight in the program's inputs never reaches the pack: a check cut short returns none at all.
    forged = {**props(), "preflight": [], "validated": "yes"}
    assert "preflight" not in provider.check({}, forged).inputs


def test_check_with_the_database_down_is_one_line(pg):
    p = ForeignKeyConstraintProvider()
    p.configure(ConfigureRequest(Config({"postgresql:host": "127.0.0.1", "postgresql:port": "1",
                                         "postgresql:database": "apms", "postgresql:username": "u",
                                         "postgresql:password": "pw-secret"}, "fkguard")))
    failure = p.check({}, props()).failures[0]
    assert failure.reason.startswith("cannot connect to u@127.0.0.1:1/apms: ")
    assert "pw-secret" not in failure.reason and "\n" not in failure.reason


def test_misspelled_config_key_is_reported_at_check(pg):
    p = ForeignKeyConstraintProvider()
    p.configure(ConfigureRequest(Config({"postgresql:host": "h", "postgresql:database": "d",
                                         "postgresql:username": "u", "fkguard:lockTimout": "1s"}, "fkguard")))
    assert p.check({}, props()).failures[0].reason == \
        "unknown config key fkguard:lockTimout in the stack: did you mean fkguard:lockTimeout?"


def test_diff_replaces_on_definition_and_updates_only_validated(provider):
    old = {**props(), "convalidated": False}
    assert provider.diff("id", old, props()).changes is False
    grow = provider.diff("id", old, props(validated=True))
    assert (grow.changes, grow.replaces) == (True, [])
    for key, value in [("onDelete", "CASCADE"), ("columns", ["workspace_id"]), ("match", "FULL"),
                       ("references", "public.workspaces"), ("table", "public.other")]:
        d = provider.diff("id", old, props(**{key: value}))
        assert (d.changes, d.replaces, d.delete_before_replace) == (True, [key], True)
    done = {**props(validated=True), "convalidated": True}
    assert provider.diff("id", done, props(validated=False)).changes is False  # cannot un-validate


def test_create_validate_read_delete(provider, apms):
    created = provider.create(props())
    assert created.id == "public.workflow_instances/fk_workflow_instances_config_version"
    assert (created.outs["state"], created.outs["convalidated"]) == ("not valid", False)
    assert created.outs["definition"] == ("FOREIGN KEY (config_version_id) REFERENCES config_versions(id) "
                                          "ON DELETE RESTRICT NOT VALID")
    assert created.outs["sql"][0].endswith("ON DELETE RESTRICT NOT VALID")

    updated = provider.update(created.id, created.outs, props(validated=True))
    assert (updated.outs["state"], updated.outs["convalidated"]) == ("validated", True)
    assert updated.outs["sql"] == ['ALTER TABLE "public"."workflow_instances" VALIDATE CONSTRAINT '
                                   '"fk_workflow_instances_config_version"']
    assert introspect.read_constraint(apms, CONFIG_FK.table, CONFIG_FK.name).validated

    read = provider.read(created.id, updated.outs)
    assert (read.id, read.inputs["validated"], read.outs["state"]) == (created.id, True, "validated")

    provider.delete(created.id, updated.outs)
    assert introspect.read_constraint(apms, CONFIG_FK.table, CONFIG_FK.name) is None
    assert provider.read(created.id, updated.outs).id is None


def test_create_adopts_an_identical_constraint_and_refuses_a_different_one(provider, apms):
    apms.execute("ALTER TABLE workflow_instances ADD CONSTRAINT fk_workflow_instances_config_version "
                 "FOREIGN KEY (config_version_id) REFERENCES config_versions(id) ON DELETE RESTRICT NOT VALID")
    adopted = provider.create(props())
    assert adopted.outs["sql"] == ["-- adopted the existing constraint fk_workflow_instances_config_version, which matches"]
    apms.execute("ALTER TABLE workflow_instances DROP CONSTRAINT fk_workflow_instances_config_version")
    apms.execute("ALTER TABLE workflow_instances ADD CONSTRAINT fk_workflow_instances_config_version "
                 "FOREIGN KEY (config_version_id) REFERENCES config_versions(id) ON DELETE CASCADE NOT VALID")
    with pytest.raises(RolloutError) as err:
        provider.create(props())
    assert str(err.value) == (
        "public.workflow_instances already has a constraint named fk_workflow_instances_config_version with another "
        "definition (FOREIGN KEY (config_version_id) REFERENCES config_versions(id) ON DELETE CASCADE NOT VALID); "
        "drop or rename it, or change this constraint's name")


def test_validation_over_orphans_says_how_many_and_stays_not_valid(provider, apms):
    workspace_fk = CATALOG[1]
    created = provider.create(props(workspace_fk))
    with pytest.raises(RolloutError) as err:
        provider.update(created.id, created.outs, props(workspace_fk, validated=True))
    text = str(err.value)
    assert text.startswith("VALIDATE CONSTRAINT fk_workflow_instances_workspace failed: 3 rows of "
                           "public.workflow_instances have no parent in public.workspaces (e.g. workspace_id='")
    assert "The constraint stays NOT VALID and still checks new writes." in text
    found = introspect.read_constraint(apms, workspace_fk.table, workspace_fk.name)
    assert found is not None and not found.validated


def test_read_reports_a_redefinition_as_new_inputs(provider, apms):
    created = provider.create(props())
    apms.execute("ALTER TABLE workflow_instances DROP CONSTRAINT fk_workflow_instances_config_version")
    apms.execute("ALTER TABLE workflow_instances ADD CONSTRAINT fk_workflow_instances_config_version "
                 "FOREIGN KEY (config_version_id) REFERENCES config_versions(id) ON DELETE NO ACTION")
    read = provider.read(created.id, created.outs)
    assert (read.inputs["onDelete"], read.inputs["validated"]) == ("NO ACTION", True)
    assert provider.diff(created.id, read.outs, props()).replaces == ["onDelete"]
