"""Remediation keeps a copy of every row it touches and undo puts them back exactly."""

import pytest

from fkguard import remediate
from fkguard.apms.generate import generate
from fkguard.catalog import load_catalog
from fkguard.orphans import count_orphans

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
    assert remediate.undo(planted, "b1") == 4
    assert snapshot(planted, "punchlist_items") == before
    with pytest.raises(remediate.RemediationError, match="batch b1 was already put back"):
        remediate.undo(planted, "b1")


def test_nullify_keeps_the_rows_and_undo_restores_the_keys(planted):
    fk = CATALOG["fk_vendor_master_workspace"]
    before = snapshot(planted, "vendor_master")
    assert remediate.apply(planted, fk, "nullify", "b2").rows == 3
    assert count_orphans(planted, fk) == 0
    assert len(snapshot(planted, "vendor_master")) == len(before)
    assert remediate.undo(planted, "b2") == 3
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


def test_a_delete_that_would_cascade_is_refused(planted):
    planted.execute("ALTER TABLE punchlist_items ADD CONSTRAINT fk_punchlist_items_punchlist FOREIGN KEY "
                    "(punchlist_id) REFERENCES punchlists(id) ON DELETE CASCADE NOT VALID")
    fk = CATALOG["fk_punchlists_workflow_instance"]
    generate_orphans = "INSERT INTO punchlists (id, workflow_instance_id, created_by) VALUES ('p-orphan', 'gone', 'x')"
    planted.execute(generate_orphans)
    with pytest.raises(remediate.RemediationError, match="would also change rows elsewhere through "
                                                          "fk_punchlist_items_punchlist on punchlist_items"):
        remediate.apply(planted, fk, "delete", "b4")
    assert planted.execute("SELECT count(*) FROM punchlists WHERE id = 'p-orphan'").fetchone()[0] == 1


def test_unknown_batch(planted):
    with pytest.raises(remediate.RemediationError, match="no quarantine batch 'nope'"):
        remediate.undo(planted, "nope")
