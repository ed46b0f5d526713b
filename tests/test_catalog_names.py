"""Constraint names as PostgreSQL has them: unique per table, not per database. A catalog may hold the same name on
tables of different schemas; each key then goes by schema.table.name (its label), the bare name where it is the
catalog's only one, and every command resolves what a user types to exactly one key or says which it could be."""

from pathlib import Path

import pytest

from fkguard import debt
from fkguard.catalog import CatalogError, QualifiedName, find, formerly_named, load_catalog

TWO_SCHEMAS = """constraints:
  - {name: fk_c_p, tier: critical, table: s1.c, columns: [p_id], references: s1.p, referenced_columns: [id], on_delete: RESTRICT}
  - {name: fk_c_p, tier: high, table: s2.c, columns: [p_id], references: s2.p, referenced_columns: [id], on_delete: RESTRICT}
  - {name: fk_other, tier: low, table: s1.c, columns: [q_id], references: s1.p, referenced_columns: [id], on_delete: RESTRICT}
"""


@pytest.fixture
def catalog(tmp_path: Path):
    path = tmp_path / "catalog.yaml"
    path.write_text(TWO_SCHEMAS)
    return load_catalog(path)


def test_the_same_name_on_two_tables_is_accepted_and_labelled_by_table(catalog):
    assert [(fk.name, fk.label) for fk in catalog] == [
        ("fk_c_p", "s1.c.fk_c_p"), ("fk_c_p", "s2.c.fk_c_p"), ("fk_other", "fk_other")]
    assert len({fk.qualified for fk in catalog}) == 3


@pytest.mark.parametrize("text, table, expected", [
    ("s2.c.fk_c_p", None, "s2.c"),
    ("s1.c.fk_c_p", None, "s1.c"),
    ("fk_c_p", "s2.c", "s2.c"),
    ("fk_other", None, "s1.c"),
    ("s1.c.fk_other", None, "s1.c"),  # the qualified form is always accepted
])
def test_find_resolves_a_label_a_qualified_name_or_a_name_with_its_table(catalog, text, table, expected):
    assert str(find(catalog, text, table=table).table) == expected


def test_a_shared_bare_name_is_refused_in_one_line_naming_the_choices(catalog):
    with pytest.raises(CatalogError) as refused:
        find(catalog, "fk_c_p")
    assert str(refused.value) == "constraint 'fk_c_p' names 2 keys of the catalog; say which: s1.c.fk_c_p or s2.c.fk_c_p"


def test_an_unknown_name_suggests_the_closest_label(catalog):
    with pytest.raises(CatalogError, match="no constraint 's2.c.fk_cp' in the catalog: did you mean 's2.c.fk_c_p'"):
        find(catalog, "s2.c.fk_cp")
    with pytest.raises(CatalogError, match="no constraint 'fk_c_p' on s3.c in the catalog"):
        find(catalog, "fk_c_p", table="s3.c")


def test_a_stack_s_bare_named_resource_goes_to_the_key_the_database_has(catalog):
    s1, s2 = catalog[0], catalog[1]
    assert formerly_named(catalog, {(QualifiedName("s2", "c"), "fk_c_p")}) == {s2: "fk_c_p"}
    assert formerly_named(catalog, {(QualifiedName("s1", "c"), "fk_c_p")}) == {s1: "fk_c_p"}
    assert formerly_named(catalog, set()) == {s1: "fk_c_p"}  # neither: the first, so exactly one claims the name


def test_debt_entries_name_a_key_by_label_and_a_bare_name_covers_every_key_of_that_name(catalog):
    s1, s2, other = catalog
    entry = debt.Debt("s2.c.fk_c_p", "qa", 2, "two rows from 2019", "ana", "2026-12-05")
    assert [debt.covers(entry, fk) for fk in catalog] == [False, True, False]
    bare = debt.Debt("fk_c_p", "qa", 2, "hand-written", "ana", "2026-12-05")
    assert [debt.covers(bare, fk) for fk in catalog] == [True, True, False]
    ledger = debt.Ledger(None, (entry,))
    assert ledger.accepted(s2, "qa") == entry and ledger.accepted(s2, "staging") is None
    assert ledger.accepted(s1, "qa") is None and ledger.accepted(other, "qa") is None
