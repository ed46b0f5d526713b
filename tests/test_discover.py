"""fkguard discover: its precision and recall on the APMS schema (against the plan's 16) and on two schemas
of other styles written for it (tests/discover_shapes.py), the catalog it writes, and its evidence."""

import dataclasses
import json
from pathlib import Path

import pytest
from psycopg import sql

from fkguard import discover
from fkguard.apms.generate import generate
from fkguard.catalog import load_catalog
from fkguard.discover import catalog as discover_catalog
from fkguard.discover import names
from fkguard.discover.schema import enforcing_trigger, read_tables
from fkguard_testing.fixtures import pg_script
from tests import discover_shapes as shapes

PLAN = load_catalog()


def relation(c) -> tuple:
    return (c.table.name, tuple(c.columns), c.references.name, tuple(c.referenced_columns))


def score(found: discover.Discovery, truth: set[tuple]) -> tuple[float, float, set[tuple], set[tuple]]:
    """(precision, recall, false positives, false negatives) of the proposed keys against the truth."""
    proposed = {relation(c) for c in found.proposed}
    hits = proposed & truth
    return len(hits) / len(proposed), len(hits) / len(truth), proposed - truth, truth - proposed


def fresh_database(pg, name: str):
    """A database of its own, so a table another test left in the shared one cannot change what is discovered;
    dropped after the test."""
    for statement in (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name} OWNER {pg.username}"):
        pg_script("psql", "-d", "postgres", "-c", statement)
    with dataclasses.replace(pg, database=name).connect() as conn:
        yield conn
    pg_script("psql", "-d", "postgres", "-c", f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture()
def apms(pg):
    yield from fresh_database(pg, "discover_apms")


@pytest.fixture()
def schema(conn):
    """Create one of discover_shapes' schemas; dropped again after the test."""
    made = []

    def create(name: str, text: str):
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
        conn.execute(text)
        conn.execute("RESET search_path")
        made.append(name)
        return conn

    yield create
    for name in made:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


# --- names ------------------------------------------------------------------------------------------------

def test_words_and_stems_read_snake_camel_and_pascal_case():
    assert names.words("workflow_instance_id") == names.words("WorkflowInstanceId") == ("workflow", "instance", "id")
    assert names.words("workflowInstanceID") == ("workflow", "instance", "id")
    assert names.stem("config_version_id") == ("config", "version")
    assert names.stem("InvoiceRef") == ("invoice",)
    assert names.stem("id") is None and names.stem("status") is None
    assert names.stem_text("AssigneeUserId") == "AssigneeUser" and names.stem_text("order_ref") == "order"
    assert [names.plural(w) for w in ("category", "address", "day", "box")] == ["categories", "addresses", "days", "boxes"]


def test_table_scores_rank_direct_names_over_prefixes_and_roles():
    assert names.table_score(("workspace",), "workspaces") == names.EXACT
    assert names.table_score(("cluster",), "cluster_master") == names.EXACT
    assert names.table_score(("stage",), "workflow_stages") == names.PREFIXED
    assert names.table_score(("scope",), "atp_scope_master") == names.PREFIXED
    assert names.table_score(("shipping", "address"), "addresses") == names.EXACT * names.ROLE
    assert names.table_score(("submission",), "atp_submission_documents") == 0.0
    assert not names.distinctive_key("id") and not names.distinctive_key("Code") and names.distinctive_key("UserId")


# --- APMS: the plan's 16 ----------------------------------------------------------------------------------

def test_apms_finds_the_plans_16_with_their_definitions_and_three_more(apms, tmp_path):
    conn = apms
    generate(conn, 2000, {}, progress=lambda _: None)
    found = discover.discover(conn, ["public"])
    plan = {relation(fk) for fk in PLAN}
    precision, recall, others, missed = score(found, plan)
    assert recall == 1.0 and not missed
    # The three others are keys too (every value has its parent), which the plan does not list.
    assert others == {("config_versions", ("workspace_id",), "workspaces", ("id",)),
                      ("workflow_instances", ("approval_policy_id",), "approval_policy_master", ("id",)),
                      ("workflow_instances", ("scope_id",), "atp_scope_master", ("id",))}
    assert precision == 16 / 19
    # The naming convention gives the plan's own names but one.
    by_relation = {relation(c): c.name for c in found.proposed}
    renamed = {fk.name: by_relation[relation(fk)] for fk in PLAN if by_relation[relation(fk)] != fk.name}
    assert renamed == {"fk_approval_policy_stages_policy": "fk_approval_policy_stages_approval_policy"}
    # stage_id also fits approval_policy_stages by name; the data rule it out.
    assert [(relation(c)[2], c.rejected) for c in found.rejected] == [
        ("approval_policy_stages", "only 0.0% of 2,000 keys have a parent (at least 90% wanted)")]
    # Tiers from the data: the fewest rows to validate first (a small table's key to the 20 workspaces), the
    # largest child tables last, one table's keys together.
    tiers = {c.name: c.tier for c in found.proposed}
    assert tiers["fk_config_versions_workspace"] == "critical" and tiers["fk_workflow_stage_actions_stage"] == "low"
    assert {tiers[n] for n in tiers if n.startswith("fk_workflow_instances_")} == {"critical"}
    assert set(tiers.values()) == {"critical", "high", "medium", "low"}
    # No foreign key to learn ON DELETE from: RESTRICT, said to be the user's choice.
    assert {c.on_delete for c in found.proposed} == {"RESTRICT"}
    assert all(c.on_delete_why.startswith("your choice") for c in found.proposed)
    # The comment's hint points at 6 of the plan's 7 CASCADE keys, and at none of its RESTRICT ones
    # (approver_overrides is not named after workflow_instances).
    hinted = {relation(c) for c in found.proposed if "CASCADE would delete them" in c.on_delete_why}
    cascades = {relation(fk) for fk in PLAN if fk.on_delete == "CASCADE"}
    assert hinted == cascades - {("approver_overrides", ("workflow_instance_id",), "workflow_instances", ("id",))}

    written = tmp_path / "catalog.yaml"
    written.write_text(discover_catalog.to_yaml(found, "the test database"))
    loaded = load_catalog(written)
    assert sorted(loaded, key=lambda fk: fk.name) == sorted((c.foreign_key() for c in found.proposed), key=lambda fk: fk.name)
    plan_by_relation = {relation(fk): fk for fk in PLAN}
    for fk in loaded:  # the same definitions as the plan's, ON DELETE aside (the plan chose per key)
        if relation(fk) in plan_by_relation:
            mine, theirs = fk, plan_by_relation[relation(fk)]
            assert (mine.table, mine.columns, mine.references, mine.referenced_columns, mine.match, mine.deferrable) == (
                theirs.table, theirs.columns, theirs.references, theirs.referenced_columns, theirs.match, theirs.deferrable)
    text = written.read_text()
    assert "# confidence high (1.00): workflow_instance_id names workflow_instances" in text
    assert "data: 100.00% of keys have a parent (exact, 500 keys), 0 orphans; 500 rows -> 100 rows" in text
    assert "the names say punchlist_items is part of punchlists: CASCADE would delete them with it" in text


def test_planted_orphans_lower_the_share_and_are_counted_as_the_audit_counts_them(apms):
    conn = apms
    stage_actions = next(fk for fk in PLAN if fk.name == "fk_workflow_stage_actions_stage")
    generate(conn, 2000, {stage_actions: 40}, progress=lambda _: None)
    found = discover.discover(conn, ["public"])
    candidate = next(c for c in found.proposed if c.name == "fk_workflow_stage_actions_stage")
    assert (candidate.keys, candidate.orphans) == (2040, 40)
    assert candidate.share == pytest.approx(2000 / 2040) and candidate.confidence < 0.85
    from fkguard.orphans import count_orphans
    assert count_orphans(conn, stage_actions) == candidate.orphans


def test_a_big_table_is_sampled_and_the_sample_is_said(apms):
    conn = apms
    generate(conn, 2000, {}, progress=lambda _: None)
    progress: list[str] = []
    found = discover.discover(conn, ["public"], progress=progress.append, sample_above=1000, sample_rows=500)
    candidate = next(c for c in found.proposed if c.name == "fk_workflow_stage_actions_stage")
    assert candidate.sample_percent == 25.0 and 0 < candidate.keys < 2000 and candidate.orphans == 0
    small = next(c for c in found.proposed if c.name == "fk_workflow_stages_workflow_instance")
    assert small.sample_percent is None and small.keys == 500
    assert any("(sample 25% of 2,000 rows)" in line for line in progress)
    assert "in a sample of 25% of the table's pages (TABLESAMPLE SYSTEM" in discover_catalog.to_yaml(found, "db")
    assert progress[:4] == ["discover: 17 tables in public, 0 foreign keys already, 20 candidates from names",
                            "discover: 90 columns profiled, 18 single-column keys, 19 inclusions in the sampled values",
                            "discover: 0 more candidates from the data",
                            "discover: 0 left out (an existing key or a trigger), 0 refused by the unique-key and type "
                            "checks, 20 to measure in the data"]


# --- two schemas of other styles ------------------------------------------------------------------------------

def test_shop_id_everywhere(schema):
    conn = schema(shapes.SHOP, shapes.SHOP_SQL)
    found = discover.discover(conn, [shapes.SHOP])
    precision, recall, false_positives, missed = score(found, shapes.SHOP_TRUTH)
    # Fooled by a log that outlives what it logs (98% of its keys still have a parent). Another system's order
    # numbers, whose range overlaps the serial ids of orders, are no longer proposed: `external_` says whose they are.
    assert false_positives == {("audit_events", ("customer_id",), "customers", ("id",))}
    # Names that do not name their table are found from the data, the names as evidence: a parent and a
    # manager point into their own table, an assignee is a person's role and employees hold people.
    assert missed == set()
    assert (round(precision, 3), round(recall, 3)) == (0.938, 1.0)
    because = {relation(c): c.because for c in found.proposed}
    assert because[("tickets", ("assignee_id",), "employees", ("id",))] == [
        "assignee_id is a person's role, employees holds people (data: sampled values all in the key)"]
    # Left out: the existing keys, and the one the trigger enforces (said how it was found).
    assert "shop.invoices (order_id) -> shop.orders (id): enforced by trigger invoices_order_exists on shop.invoices" in (
        found.skipped)
    rejected = {relation(c): c.rejected for c in found.rejected}
    assert rejected[("reviews", ("product_id",), "products", ("id",))].startswith("types: product_id text -> integer")
    assert rejected[("warehouse_stock", ("location_id",), "locations", ("id",))].startswith("only 0.0% of 200 keys")
    # ON DELETE from the schema's own keys: CASCADE as its one key to orders does, else its majority (RESTRICT).
    actions = {relation(c): (c.on_delete, c.on_delete_why) for c in found.proposed}
    assert actions[("payments", ("order_id",), "orders", ("id",))] == (
        "CASCADE", "as 1 of the 1 foreign keys to shop.orders in the schema")
    assert actions[("order_items", ("product_id",), "products", ("id",))] == (
        "RESTRICT", "the schema's convention: 2 of its 3 foreign keys")


def test_studio_quoted_mixed_case_and_composite_keys(schema, tmp_path):
    conn = schema(shapes.STUDIO, shapes.STUDIO_SQL)
    found = discover.discover(conn, [shapes.STUDIO])
    precision, recall, false_positives, missed = score(found, shapes.STUDIO_TRUTH)
    # Fooled by a snapshot kept after its tasks are deleted (95% of its keys still have a task); proposing it
    # then hides the snapshot's true key to its project, which the task key would imply.
    assert false_positives == {("TaskEstimate", ("TenantId", "ProjectNo", "TaskNo"), "Task", ("TenantId", "ProjectNo", "TaskNo"))}
    # authorId is found from the data (no table is called author; an author is a person's role, User holds people).
    assert missed == {("TaskEstimate", ("TenantId", "ProjectNo"), "Project", ("TenantId", "ProjectNo"))}
    assert (round(precision, 3), round(recall, 3)) == (0.929, 0.929)
    # Keys implied through a composite one are left out, unless a NULL could let a row escape it.
    rejected = {relation(c): c.rejected for c in found.rejected}
    assert rejected[("Task", ("TenantId",), "Tenant", ("TenantId",))] == (
        "implied by the key Studio.Task (TenantId, ProjectNo) -> Studio.Project and Studio.Project's own")
    assert ("Attachment", ("TenantId",), "Tenant", ("TenantId",)) in rejected  # implied by the trigger's key
    assert ('Studio.Attachment (TenantId, ProjectNo) -> Studio.Project (TenantId, ProjectNo): enforced by trigger '
            'AttachmentProject on Studio.Attachment') in found.skipped
    # The schema's convention is CASCADE: every proposal follows it, and says so.
    assert {c.on_delete for c in found.proposed} == {"CASCADE"}
    # Mixed-case names survive the round trip through the catalog file.
    written = tmp_path / "studio.yaml"
    written.write_text(discover_catalog.to_yaml(found, "the test database"))
    loaded = {fk.name: fk for fk in load_catalog(written)}
    task = loaded["fk_Task_Project"]
    assert (str(task.table), task.columns, str(task.references)) == ("Studio.Task", ("TenantId", "ProjectNo"), "Studio.Project")
    assert loaded["fk_Project_OwnerUser"].referenced_columns == ("UserId",)
    assert json.loads(json.dumps(discover_catalog.as_json(found)))["proposed"][0]["name"] in loaded


def test_catalogue_keys_named_the_ways_real_schemas_name_them(schema):
    """Candidates from the data, the names as evidence: no `_id` in sight, and all 20 found."""
    conn = schema(shapes.CATALOGUE, shapes.CATALOGUE_SQL)
    found = discover.discover(conn, [shapes.CATALOGUE])
    precision, recall, false_positives, missed = score(found, shapes.CATALOGUE_TRUTH)
    assert (precision, recall, false_positives, missed) == (1.0, 1.0, set(), set())
    because = {relation(c): c.because[0] for c in found.proposed}
    assert because[("shipment", ("type",), "shipment_type", ("id",))].startswith(
        "type is the end of shipment_type's name, shipment its start")
    assert because[("link_place_place", ("entity1",), "place", ("id",))].startswith(
        "entity1 is a role of link_place_place, which is named after place")
    assert because[("image_meta", ("id",), "image", ("id",))].startswith("image_meta shares image's key")
    assert because[("session", ("client_token",), "api_client", ("token",))].startswith(
        "client_token is the end of api_client's name")
    # album_cover.album's values are all album_group ids too: the table it is named after wins.
    assert ("album_cover", ("album",), "album_group", ("id",)) not in {relation(c) for c in found.proposed}
    # Without the data's candidates (names alone, as before) it finds none of these names but the uuid's key name.
    names_only = discover.discover(conn, [shapes.CATALOGUE], use_data=False)
    assert {relation(c) for c in names_only.proposed} <= shapes.CATALOGUE_TRUTH
    assert len(names_only.proposed) < 5


def test_no_schema_no_candidates_and_an_empty_catalog_loads(schema, tmp_path):
    conn = schema("discover_empty", 'CREATE SCHEMA discover_empty; CREATE TABLE discover_empty.t (id int PRIMARY KEY)')
    found = discover.discover(conn, ["discover_empty"])
    assert (found.proposed, found.rejected, found.skipped) == ([], [], [])
    written = tmp_path / "empty.yaml"
    written.write_text(discover_catalog.to_yaml(found, "db"))
    assert load_catalog(written) == []


def test_the_shapes_truths_name_real_columns(schema):
    """Guards the measure itself: every true key of the fixtures names columns that exist."""
    for name, text, truth in ((shapes.SHOP, shapes.SHOP_SQL, shapes.SHOP_TRUTH),
                              (shapes.STUDIO, shapes.STUDIO_SQL, shapes.STUDIO_TRUTH)):
        conn = schema(name, text)
        tables = {t.name.name: t for t in read_tables(conn, [name]).values()}
        for table, columns, parent, referenced in truth:
            assert set(columns) <= set(tables[table].columns) and tuple(referenced) in tables[parent].keys


def test_catalog_header_states_the_conventions(tmp_path):
    text = discover_catalog.to_yaml(discover.Discovery([], [], [], 0, ("public",), []), "db")
    assert "# Names: fk_<table>_<column without its _id/Id/_ref suffix>" in text
    assert Path(tmp_path).exists()


def test_the_table_index_scores_as_table_score_does():
    tables = ["workspaces", "workflow_stages", "approval_policy_stages", "atp_scope_master", "addresses", "User",
              "TaskComment", "cluster_master", "cluster_approver_master"]
    index = names.TableIndex(tables)
    for column in ("workspace_id", "stage_id", "scope_id", "shipping_address_id", "AssigneeUserId", "cluster_id",
                   "CommentId", "approval_policy_id", "site_id"):
        stem = names.stem(column)
        expected = {t: s for t in tables if (s := names.table_score(stem, t))}
        assert index.matches(stem) == expected, column


def test_bad_input_is_one_line_naming_the_fix(conn):
    with pytest.raises(discover.DiscoverError, match=r"^schema 'Public' does not exist in the database \(names are "
                                                     r"case-sensitive\); its schemas are .*public"):
        discover.discover(conn, ["Public"])
    with pytest.raises(discover.DiscoverError, match=r"^--min-share 1.5 must be above 0 and at most 1"):
        discover.discover(conn, ["public"], min_share=1.5)


def test_out_is_never_overwritten_without_force(tmp_path, monkeypatch, capsys):
    from fkguard import cli

    kept = tmp_path / "catalog.yaml"
    kept.write_text("constraints: []  # edited by hand\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["discover", "-s", "local", "--out", "catalog.yaml"]) == 2
    assert capsys.readouterr().err == ("fkguard discover: catalog.yaml exists (a catalog someone may have edited): choose "
                                       "another --out, or add --force to replace it\n")
    assert cli.main(["discover", "-s", "local", "--out", "no/such/folder/c.yaml"]) == 2
    assert "no/such/folder is not a folder: create it, or choose another --out" in capsys.readouterr().err
    assert kept.read_text() == "constraints: []  # edited by hand\n"


def test_a_trigger_enforces_a_pair_when_its_source_names_the_other_table_and_every_column():
    from fkguard.catalog import QualifiedName

    child, parent = QualifiedName("s", "lines"), QualifiedName("s", "orders")
    row, insert, delete = 1, 4, 8
    on_parent_delete = [(parent, row | delete, "orders_cascade", "begin delete from s.lines where order_id = old.id; end")]
    assert enforcing_trigger(on_parent_delete, child, ("order_id",), parent) == "orders_cascade on s.orders"
    on_child_insert = [(child, row | insert, "lines_check", 'perform 1 from "orders" where id = new."order_id";')]
    assert enforcing_trigger(on_child_insert, child, ("order_id",), parent) == "lines_check on s.lines"
    unrelated = [(child, row | insert, "touch", "new.updated_at := now(); -- orders_archive, order_identifier"),
                 (parent, row | insert, "wrong_event", "select 1 from lines where order_id = 1")]
    assert enforcing_trigger(unrelated, child, ("order_id",), parent) is None


def test_a_partitioned_table_is_read_whole_and_sampled_through_its_partitions(schema):
    from tests.shapes import two_level_partitioned

    conn = schema("discover_parts", "CREATE SCHEMA discover_parts")
    conn.execute("CREATE TABLE discover_parts.sites (id int PRIMARY KEY); "
                 "INSERT INTO discover_parts.sites SELECT generate_series(1, 100)")
    conn.execute(two_level_partitioned("discover_parts", "visits", "site_id", "day"))
    conn.execute("ANALYZE discover_parts.visits")
    found = discover.discover(conn, ["discover_parts"], sample_above=500, sample_rows=1000)
    # The partitions are not candidates of their own: the partitioned table's key covers them.
    assert [(relation(c), c.rows) for c in found.proposed] == [(("visits", ("site_id",), "sites", ("id",)), 2000)]
    visit = found.proposed[0]
    assert visit.sample_percent == 50.0 and 0 < visit.keys < 2000 and visit.orphans == 0
