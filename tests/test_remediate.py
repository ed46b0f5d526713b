"""Remediation keeps a copy of every row it touches and undo puts them back exactly."""

import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from psycopg import sql

from fkguard import debt, quarantine, remediate
from fkguard.apms.generate import generate
from fkguard.catalog import load_catalog
from fkguard.locks import LockPolicy
from fkguard.orphans import count_orphans
from tests import shapes
from tests.shapes import snapshot as schema_snapshot

CATALOG = {fk.name: fk for fk in load_catalog()}


def snapshot(conn, table):
    return sorted(r[0] for r in conn.execute(f"SELECT row_to_json(t)::text FROM {table} t"))  # noqa: S608


@pytest.fixture()
def planted(conn):
    generate(conn, 1000, {CATALOG["fk_vendor_master_workspace"]: 3, CATALOG["fk_punchlist_items_punchlist"]: 4},
             progress=lambda _: None)
    return conn


def test_delete_moves_exactly_the_orphans_and_undo_restores_them(planted):
    fk = CATALOG["fk_punchlist_items_punchlist"]
    before = snapshot(planted, "punchlist_items")
    result = remediate.apply(planted, fk, "delete", "b1")
    assert result.rows == 4 and count_orphans(planted, fk) == 0
    assert len(snapshot(planted, "punchlist_items")) == len(before) - 4
    assert planted.execute("SELECT count(*) FROM fkguard_quarantine.rows WHERE batch = 'b1'").fetchone()[0] == 4
    assert quarantine.undo(planted, "b1") == 4
    assert snapshot(planted, "punchlist_items") == before
    with pytest.raises(remediate.RemediationError, match="batch b1 was already put back"):
        quarantine.undo(planted, "b1")


def test_nullify_keeps_the_rows_and_undo_restores_the_keys(planted):
    fk = CATALOG["fk_vendor_master_workspace"]
    before = snapshot(planted, "vendor_master")
    assert remediate.apply(planted, fk, "nullify", "b2").rows == 3
    assert count_orphans(planted, fk) == 0
    assert len(snapshot(planted, "vendor_master")) == len(before)
    assert quarantine.undo(planted, "b2") == 3
    assert snapshot(planted, "vendor_master") == before


@pytest.mark.parametrize("name, action, message", [
    ("fk_punchlist_items_punchlist", "nullify",
     "public.punchlist_items.punchlist_id is NOT NULL, so the key cannot be set to NULL; use --action delete"),
])
def test_refusals_change_nothing(planted, name, action, message):
    fk = CATALOG[name]
    before = snapshot(planted, fk.table.name)
    with pytest.raises(remediate.RemediationError, match=message):
        remediate.apply(planted, fk, action, "b3")
    assert snapshot(planted, fk.table.name) == before


def test_a_delete_is_refused_only_where_a_cascading_key_would_take_rows_along(planted):
    planted.execute("ALTER TABLE punchlist_items ADD CONSTRAINT fk_punchlist_items_punchlist FOREIGN KEY "
                    "(punchlist_id) REFERENCES punchlists(id) ON DELETE CASCADE NOT VALID")
    fk = CATALOG["fk_punchlists_workflow_instance"]
    planted.execute("INSERT INTO punchlists (id, workflow_instance_id, created_by) VALUES ('p-orphan', 'gone', 'x')")
    planted.execute("INSERT INTO punchlist_items (id, punchlist_id, description, severity) "
                    "VALUES ('i-1', 'p-orphan', 'd', 'MINOR')")
    with pytest.raises(remediate.RemediationError, match="would delete 1 rows of public.punchlist_items along through "
                                                         "fk_punchlist_items_punchlist \\(ON DELETE CASCADE\\)"):
        remediate.apply(planted, fk, "delete", "b4")
    assert planted.execute("SELECT count(*) FROM punchlists WHERE id = 'p-orphan'").fetchone()[0] == 1
    # The key itself is no hazard: once no row points at the doomed parent, the delete goes through.
    planted.execute("DELETE FROM punchlist_items WHERE id = 'i-1'")
    assert remediate.apply(planted, fk, "delete", "b4").rows == 1


def test_unknown_batch(planted):
    with pytest.raises(remediate.RemediationError, match="no quarantine batch 'nope'"):
        quarantine.undo(planted, "nope")


@pytest.fixture()
def readings(conn):
    conn.execute(shapes.READINGS_SQL)
    yield conn
    shapes.drop(conn, shapes.READINGS_SCHEMA)


def test_undo_puts_back_rows_with_identity_and_generated_columns_exactly(readings):
    fks = {fk.name: fk for fk in shapes.catalog(shapes.READINGS_CATALOG)}
    before = schema_snapshot(readings, shapes.READINGS_SCHEMA)
    assert remediate.apply(readings, fks["reading_site"], "delete", "u1").rows == 8  # sites 4 and 5
    assert remediate.apply(readings, fks["note_site"], "delete", "u1").rows == 2  # identity BY DEFAULT
    assert schema_snapshot(readings, shapes.READINGS_SCHEMA) != before
    assert quarantine.undo(readings, "u1") == 10
    assert schema_snapshot(readings, shapes.READINGS_SCHEMA) == before  # the identity values too; generated ones recomputed
    assert remediate.apply(readings, fks["note_site"], "nullify", "u2").rows == 2
    assert quarantine.undo(readings, "u2") == 2
    assert schema_snapshot(readings, shapes.READINGS_SCHEMA) == before


def test_an_undo_postgresql_refuses_stays_in_quarantine_and_says_why(readings):
    fk = shapes.catalog(shapes.READINGS_CATALOG)[0]
    remediate.apply(readings, fk, "delete", "u3")
    gone = readings.execute("SELECT (row_data->>'reading_id')::int FROM fkguard_quarantine.rows WHERE batch = 'u3' "
                            "ORDER BY 1 LIMIT 1").fetchone()[0]
    # Someone wrote a new row under a quarantined row's key in the meantime.
    readings.execute('INSERT INTO "UndoShapes"."Reading" (reading_id, site_id, celsius) OVERRIDING SYSTEM VALUE '
                     "VALUES (%s, 1, 0)", (gone,))
    after_delete = schema_snapshot(readings, shapes.READINGS_SCHEMA)
    with pytest.raises(remediate.RemediationError) as refused:
        quarantine.undo(readings, "u3")
    message = str(refused.value)
    assert message.startswith("batch u3 was not put back and stays in quarantine: PostgreSQL refused the rows of "
                              "UndoShapes.Reading (duplicate key value violates unique constraint")
    assert f"Key (reading_id)=({gone}) already exists." in message and "\n" not in message
    assert schema_snapshot(readings, shapes.READINGS_SCHEMA) == after_delete
    assert [b.restored for b in quarantine.batches(readings) if b.batch == "u3"] == [False]
    readings.execute('DELETE FROM "UndoShapes"."Reading" WHERE reading_id = %s', (gone,))
    assert quarantine.undo(readings, "u3") == 8


def test_nullify_refuses_a_generated_key(readings):
    readings.execute('ALTER TABLE "UndoShapes".note ADD COLUMN site_copy int GENERATED ALWAYS AS (site_id) STORED')
    fk = shapes.catalog([shapes.entry("note_copy", "UndoShapes.note", ["site_copy"], "UndoShapes.site", ["site_id"])])[0]
    with pytest.raises(remediate.RemediationError, match="UndoShapes.note.site_copy is a generated column"):
        remediate.apply(readings, fk, "nullify", "u4")


@pytest.fixture()
def family(conn):
    conn.execute(shapes.FAMILY_SQL)
    yield conn
    shapes.drop(conn, shapes.FAMILY_SCHEMA)


# Without its primary key, parent's rows are told apart by location: the count must come out the same.
without_the_primary_key = pytest.mark.parametrize("primary_key", [True, False], ids=["with pk", "without pk"])


@without_the_primary_key
def test_a_delete_that_would_orphan_rows_of_a_catalog_relationship_is_refused_first(family, primary_key):
    if not primary_key:
        family.execute("ALTER TABLE family_shapes.parent DROP CONSTRAINT parent_pkey")
    fks = {fk.name: fk for fk in shapes.catalog(shapes.FAMILY_CATALOG)}
    doomed = fks["parent_grandparent"]
    before = schema_snapshot(family, shapes.FAMILY_SCHEMA)
    count, refusal = remediate.plan(family, doomed, "delete", list(fks.values()))
    assert count == 2
    assert refusal.startswith("deleting its 2 orphan rows of family_shapes.parent would orphan 3 rows of "
                              "family_shapes.child through child_parent (in the catalog, not yet a constraint)")
    assert "use --action nullify or --action accept for parent_grandparent" in refusal
    with pytest.raises(remediate.RemediationError, match="would orphan 3 rows of family_shapes.child"):
        remediate.apply(family, doomed, "delete", "f1", list(fks.values()))
    assert schema_snapshot(family, shapes.FAMILY_SCHEMA) == before
    # Without the catalog the database alone knows of no reference: that was the defect.
    assert remediate.plan(family, doomed, "delete") == (2, None)
    # Once the children point elsewhere, the parents' orphans go.
    family.execute("UPDATE family_shapes.child SET p_id = 1")
    assert remediate.apply(family, doomed, "delete", "f1", list(fks.values())).rows == 2
    assert count_orphans(family, fks["child_parent"]) == 0


def test_the_database_and_the_catalog_relationship_count_once_and_the_key_decides_the_words(family):
    fks = shapes.catalog(shapes.FAMILY_CATALOG)
    family.execute("ALTER TABLE family_shapes.child ADD CONSTRAINT child_parent FOREIGN KEY (p_id) "
                   "REFERENCES family_shapes.parent ON DELETE CASCADE NOT VALID")
    _, refusal = remediate.plan(family, fks[0], "delete", fks)
    assert "would delete 3 rows of family_shapes.child along through child_parent (ON DELETE CASCADE)" in refusal
    assert refusal.count("child_parent") == 1
    family.execute("ALTER TABLE family_shapes.child DROP CONSTRAINT child_parent, ADD CONSTRAINT other_name "
                   "FOREIGN KEY (p_id) REFERENCES family_shapes.parent NOT VALID")
    _, refusal = remediate.plan(family, fks[0], "delete", fks)
    assert "would be blocked by 3 rows of family_shapes.child through other_name (ON DELETE NO ACTION)" in refusal
    assert "child_parent" not in refusal  # same columns, same referenced key: one relationship


@without_the_primary_key
def test_rows_deleted_along_with_the_orphans_are_not_counted_as_orphaned(family, primary_key):
    if not primary_key:
        family.execute("ALTER TABLE family_shapes.parent DROP CONSTRAINT parent_pkey")
    family.execute("ALTER TABLE family_shapes.parent ADD COLUMN up_id int")
    family.execute("UPDATE family_shapes.parent SET up_id = 4 WHERE p_id IN (5, 2)")  # 5 goes too; 2 stays
    up = shapes.entry("parent_up", "family_shapes.parent", ["up_id"], "family_shapes.parent", ["p_id"])
    fks = shapes.catalog([*shapes.FAMILY_CATALOG, up])
    family.execute("UPDATE family_shapes.child SET p_id = 1")
    _, refusal = remediate.plan(family, fks[0], "delete", fks)
    assert "would orphan 1 rows of family_shapes.parent through parent_up" in refusal
    family.execute("UPDATE family_shapes.parent SET up_id = NULL WHERE p_id = 2")
    assert remediate.plan(family, fks[0], "delete", fks) == (2, None)


def test_the_re_audit_tells_orphans_left_behind_from_orphans_that_were_there_before(planted, pg, monkeypatch, capsys):
    """Remediating one relationship must not blame its removal for another's orphans it was not asked about."""
    from fkguard import cli
    from fkguard.commands import common
    from fkguard.stack.context import StackContext
    from fkguard.stack.options import Options

    context = StackContext("local", Path.cwd(), pg, Options(), list(CATALOG.values()), debt.Ledger(None))
    monkeypatch.setattr(common, "load_stack", lambda stack: context)
    code = cli.main(["remediate", "-s", "local", "--action", "delete", "--constraint", "fk_punchlist_items_punchlist",
                     "--yes"])
    out = [line for line in capsys.readouterr().out.splitlines() if "re-audit" in line]
    assert code == 0 and out == ["fkguard remediate: re-audit: orphans that were there before remain in 1 relationships "
                                 "it was not asked about: fk_vendor_master_workspace 3"]


def test_the_re_audit_lines_name_what_remains_grew_or_was_there():
    from fkguard.remediation_plan import describe_left

    lines = describe_left({"a": 2, "b": 5, "c": 1}, {"a": 4, "b": 3, "c": 1}, {"a"})
    assert lines == [
        "orphans remain in 1 of the relationships remediated (rows written since it counted them: run it again): a 2",
        "orphans appeared in 1 other relationships while it ran (written meanwhile, or children of removed rows: "
        "audit them): b 5",
        "orphans that were there before remain in 1 relationships it was not asked about: c 1"]


def test_remediate_against_a_locked_table_gives_up_within_the_budget_and_changes_nothing(planted, pg, monkeypatch,
                                                                                          capsys):
    from fkguard import cli
    from fkguard.commands import common
    from fkguard.stack.context import StackContext
    from fkguard.stack.options import Options

    fk = CATALOG["fk_punchlist_items_punchlist"]
    before = snapshot(planted, "punchlist_items")
    options = Options(lock_timeout_ms=100, lock_retry_budget_ms=1000)
    context = StackContext("local", Path.cwd(), pg, options, list(CATALOG.values()), debt.Ledger(None))
    monkeypatch.setattr(common, "load_stack", lambda stack: context)
    # SHARE lets the plan's reads through and stops the DELETE: the application's open transaction.
    with pg.connect(autocommit=False, application_name="app-holder") as holder:
        holder.execute("LOCK TABLE punchlist_items IN SHARE MODE")
        started = time.monotonic()
        code = cli.main(["remediate", "-s", "local", "--action", "delete", "--constraint", fk.name, "--yes"])
        took = time.monotonic() - started
        holder.rollback()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"fkguard remediate: remediating {fk.name} (delete): gave up after ")
    assert "each waiting at most 100ms for a lock on public.punchlist_items" in err[0]
    assert "pid " in err[0] and "(app-holder, idle in transaction" in err[0]
    assert err[0].endswith("run fkguard remediate again; nothing of public.punchlist_items changed")
    assert 1.0 <= took < 5, took  # the budget, not forever (without lock_timeout it would wait for the holder)
    assert snapshot(planted, "punchlist_items") == before and count_orphans(planted, fk) == 4
    assert quarantine.batches(planted) == []  # not even the quarantine table was made


@pytest.fixture()
def links(conn):
    conn.execute(shapes.LINKS_SQL)
    yield conn
    shapes.drop(conn, shapes.LINKS_SCHEMA)


LINKS = {fk.name: fk for fk in shapes.catalog(shapes.LINKS_CATALOG)}


def link_rows(conn, where="true"):
    """item_tag as a sorted multiset of its rows' text: duplicates count, 1.0 and 1.00 differ."""
    return sorted(r[0] for r in conn.execute(
        sql.SQL("SELECT row_to_json(t)::text FROM link_shapes.item_tag t WHERE {}").format(sql.SQL(where))))


def test_delete_without_a_primary_key_takes_exactly_the_orphans_and_undo_gives_back_the_same_rows(links):
    before = link_rows(links)
    orphans_of_tag = link_rows(links, "tag_id NOT IN (1, 2, 3)")
    assert len(orphans_of_tag) == 12 and len(set(orphans_of_tag)) == 9  # three alike, and two pairs
    only_of_item = link_rows(links, "item_id = 99")
    assert remediate.plan(links, LINKS["item_tag_tag"], "delete", list(LINKS.values())) == (12, None)
    assert remediate.apply(links, LINKS["item_tag_tag"], "delete", "l1").rows == 12
    assert remediate.apply(links, LINKS["item_tag_item"], "delete", "l1").rows == 2  # the rest went with the tag's
    assert count_orphans(links, LINKS["item_tag_tag"]) == count_orphans(links, LINKS["item_tag_item"]) == 0
    kept = link_rows(links)
    assert kept == sorted((Counter(before) - Counter(orphans_of_tag) - Counter(only_of_item)).elements())
    assert len(kept) == 4 and kept[0] == kept[1]  # a duplicate that is no orphan stays, both rows
    quarantined = sorted(r[0] for r in links.execute(
        "SELECT (row_data - 'tag_label')::text FROM fkguard_quarantine.rows WHERE batch = 'l1'"))
    assert len(quarantined) == 14 and len(set(quarantined)) == 10
    assert quarantine.undo(links, "l1") == 14
    assert link_rows(links) == before  # each duplicate back as often as it was there


def test_nullify_without_a_primary_key_and_undo_give_back_the_same_rows(links):
    before = link_rows(links)
    assert remediate.apply(links, LINKS["item_tag_tag"], "nullify", "l2").rows == 12
    assert count_orphans(links, LINKS["item_tag_tag"]) == 0
    assert len(link_rows(links)) == len(before)
    assert link_rows(links, "tag_id IS NULL AND \"Note\" = 'three alike'") == [
        '{"item_id":10,"tag_id":null,"weight":1.0,"Note":"three alike","tag_label":null}'] * 3
    assert len(link_rows(links, "tag_id IS NULL AND \"Note\" = 'no tag'")) == 3  # two nulled, one NULL before
    # The two 'scale' rows are equal as numbers (1.0 = 1.00); the one copied first now lies last.
    links.execute("UPDATE link_shapes.item_tag SET weight = weight WHERE \"Note\" = 'scale' AND weight::text = '1.0'")
    assert quarantine.undo(links, "l2") == 12
    assert link_rows(links) == before  # each 'scale' row got its own key back, not the other's


def test_undo_puts_both_keys_back_where_both_were_nulled_last_first(links):
    before = link_rows(links)
    assert remediate.apply(links, LINKS["item_tag_tag"], "nullify", "l3").rows == 12
    # The rows whose item is gone too are copied again, their tag NULL already.
    assert remediate.apply(links, LINKS["item_tag_item"], "nullify", "l3").rows == 5
    assert len(link_rows(links, "item_id IS NULL AND tag_id IS NULL")) == 3
    assert quarantine.undo(links, "l3") == 17
    assert link_rows(links) == before


@pytest.mark.parametrize("change", [
    "UPDATE link_shapes.item_tag SET weight = 1.5 WHERE \"Note\" = 'one of a kind' AND item_id = 30",
    "DELETE FROM link_shapes.item_tag WHERE ctid = (SELECT min(ctid) FROM link_shapes.item_tag "
    "WHERE \"Note\" = 'three alike')",
])
def test_undo_of_a_nullify_refuses_when_a_row_is_no_longer_there_as_copied(links, pg, monkeypatch, capsys, change):
    from fkguard import cli
    from fkguard.commands import common
    from fkguard.stack.context import StackContext
    from fkguard.stack.options import Options

    fk = LINKS["item_tag_tag"]
    remediate.apply(links, fk, "nullify", "l4")
    links.execute(change)
    changed = link_rows(links)
    context = StackContext("local", Path.cwd(), pg, Options(), list(LINKS.values()), debt.Ledger(None))
    monkeypatch.setattr(common, "load_stack", lambda stack: context)
    code = cli.main(["remediate", "-s", "local", "--undo", "l4", "--yes"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [
        "fkguard remediate: batch l4 was not put back and stays in quarantine: 1 of the 12 rows item_tag_tag set to "
        "NULL in link_shapes.item_tag no longer have a row there whose key is NULL and whose other columns are as "
        "they were copied (changed or deleted since), and without a primary key nothing else tells which row was "
        "theirs; nothing changed"]
    assert link_rows(links) == changed
    assert [b.restored for b in quarantine.batches(links) if b.batch == "l4"] == [False]


def test_batches_without_a_primary_key_are_put_back_last_first(links):
    # After the first batch item 10 goes too, and the second nulls the item of rows the first had changed.
    before = link_rows(links)
    assert remediate.apply(links, LINKS["item_tag_tag"], "nullify", "l5").rows == 12
    links.execute("DELETE FROM link_shapes.item WHERE item_id = 10")
    assert remediate.apply(links, LINKS["item_tag_item"], "nullify", "l6").rows == 2 + 3 + 2 + 3
    between = link_rows(links)
    # Six of the first batch's rows (item 10, 97, 98) are no longer as it copied them: it can only follow the second.
    with pytest.raises(remediate.RemediationError, match="batch l5 was not put back and stays in quarantine: 6 of "
                                                         "the 12 rows item_tag_tag"):
        quarantine.undo(links, "l5")
    assert link_rows(links) == between
    assert quarantine.undo(links, "l6") == 10
    assert quarantine.undo(links, "l5") == 12
    links.execute("INSERT INTO link_shapes.item VALUES (10)")
    assert link_rows(links) == before


@pytest.mark.parametrize("action", ["delete", "nullify"])
def test_a_row_another_transaction_changes_meanwhile_is_neither_changed_nor_copied(links, pg, action):
    fk = LINKS["item_tag_tag"]
    before = link_rows(links)
    which = sql.SQL("item_id = 20 AND tag_id = 9")
    done: dict = {}

    def remediating() -> None:
        try:
            done["result"] = remediate.apply(links, fk, action, "l7", policy=LockPolicy(lock_timeout_ms=60_000))
        except Exception as exc:  # shown by the assertion below
            done["error"] = exc

    with pg.connect(autocommit=False) as holder:
        holder.execute(sql.SQL("UPDATE link_shapes.item_tag SET weight = 9 WHERE {}").format(which))
        worker = threading.Thread(target=remediating)
        worker.start()
        deadline = time.monotonic() + 30
        # Let go once the remediation waits for this row: it has read the row where it was.
        while holder.info.backend_pid not in holder.execute(
                "SELECT pg_blocking_pids(%s)", (links.info.backend_pid,)).fetchone()[0]:
            assert time.monotonic() < deadline and worker.is_alive(), done
            time.sleep(0.01)
        holder.commit()
        worker.join(30)
    assert done.get("result") is not None, done
    assert done["result"].rows == 11
    # The changed row kept its key and stays an orphan; the quarantine has no copy of it.
    assert link_rows(links, "item_id = 20 AND tag_id = 9") == [
        '{"item_id":20,"tag_id":9,"weight":9,"Note":"one of a kind","tag_label":"tag 9"}']
    assert count_orphans(links, fk) == 1
    assert links.execute("SELECT count(*) FROM fkguard_quarantine.rows WHERE batch = 'l7' "
                         "AND row_data->>'tag_id' = '9'").fetchone()[0] == 0
    assert quarantine.undo(links, "l7") == 11
    links.execute(sql.SQL("UPDATE link_shapes.item_tag SET weight = 2.0 WHERE {}").format(which))
    assert link_rows(links) == before


@pytest.fixture()
def visits(conn):
    """part_shapes.visit, partitioned on two levels without a primary key; places 96 to 100 do not exist, and
    some rows, orphans and not, are there twice."""
    conn.execute("CREATE SCHEMA part_shapes; CREATE TABLE part_shapes.place (place_id int PRIMARY KEY); "
                 "INSERT INTO part_shapes.place SELECT generate_series(1, 95)")
    conn.execute(shapes.two_level_partitioned("part_shapes", "visit", "place_id", "day"))
    conn.execute("INSERT INTO part_shapes.visit SELECT * FROM part_shapes.visit WHERE place_id IN (50, 97, 99) "
                 "AND id % 3 = 0")
    yield conn
    shapes.drop(conn, "part_shapes")


VISIT_PLACE = shapes.catalog([shapes.entry("visit_place", "part_shapes.visit", ["place_id"], "part_shapes.place",
                                           ["place_id"])])[0]


@pytest.mark.parametrize("action", ["delete", "nullify"])
def test_a_partitioned_table_without_a_primary_key_is_remediated_and_put_back_in_each_partition(visits, action):
    before = schema_snapshot(visits, "part_shapes")  # leaf by leaf: a row back in another partition would show
    assert set(before) == {"part_shapes.place", "part_shapes.visit_2024", "part_shapes.visit_2025_eu",
                           "part_shapes.visit_2025_us"}
    orphaned, alike = visits.execute("SELECT count(*), count(*) - count(DISTINCT v) FROM part_shapes.visit v "
                                     "WHERE place_id > 95").fetchone()
    assert orphaned == 100 + 14 and alike == 14
    assert remediate.plan(visits, VISIT_PLACE, action) == (orphaned, None)
    assert remediate.apply(visits, VISIT_PLACE, action, "v1").rows == orphaned
    assert count_orphans(visits, VISIT_PLACE) == 0
    left = visits.execute("SELECT count(*) FILTER (WHERE place_id IS NULL), count(*) FILTER (WHERE place_id = 50), "
                          "count(*) FROM part_shapes.visit").fetchone()
    assert left == ((orphaned, 26, 2020) if action == "nullify" else (0, 26, 2020 - orphaned))  # 50: 20 and 6 twice
    assert quarantine.undo(visits, "v1") == orphaned
    assert schema_snapshot(visits, "part_shapes") == before
