"""The SupportingIndex provider called directly, against the real test database: preview's plan, a
build, adoption of an existing index, a failed build's INVALID index found and dropped (retried after a
lock timeout, reported after a statement timeout), delete dropping only fkguard's own, refresh seeing an
index gone or INVALID, and a partitioned table. The schema `ix` is this file's own."""

import threading
import time

import pytest

from fkguard import ddl, indexes
from fkguard.catalog import CatalogError, QualifiedName, load_catalog
from fkguard.locks import LockPolicy
from fkguard.operations import BuildIndex
from fkguard_testing.fixtures import as_superuser
from resources.supporting_index import SupportingIndexProvider
from tests import shapes

SCHEMA = """
DROP SCHEMA IF EXISTS ix CASCADE;
CREATE SCHEMA ix;
CREATE TABLE ix.parent (id int PRIMARY KEY);
INSERT INTO ix.parent SELECT generate_series(1, 100);
CREATE TABLE ix.child (id int PRIMARY KEY, parent_id int, other_id int);
INSERT INTO ix.child SELECT g, 1 + g % 100, g % 7 FROM generate_series(1, 20000) g;
CREATE INDEX child_other_first ON ix.child (other_id, id);
"""
PARTED = shapes.two_level_partitioned("ix", "events", "parent_id", "day")
CHILD = QualifiedName("ix", "child")
BUILDING = ddl.building_name(CHILD, ("parent_id",))  # the name it is built under, until marked and renamed
MARK = (f"COMMENT ON INDEX \"ix\".\"{BUILDING}\" IS 'fkguard: built to support a foreign key; fkguard drops it "
        "with the last key that needs it'")
RENAME = f'ALTER INDEX "ix"."{BUILDING}" RENAME TO "child_parent_id_idx"'
MARKED = MARK.replace(BUILDING, "child_parent_id_idx")  # an index of that name marked as fkguard's by an earlier run
BUILD = f'CREATE INDEX CONCURRENTLY "{BUILDING}" ON "ix"."child" ("parent_id")'
TO_PARENT = "ALTER TABLE ix.child ADD CONSTRAINT fk_child_parent FOREIGN KEY (parent_id) REFERENCES ix.parent NOT VALID"


@pytest.fixture()
def ix(conn):
    conn.execute(SCHEMA)
    yield conn
    conn.execute("DROP SCHEMA ix CASCADE")


@pytest.fixture()
def index_provider(provider):
    """Configured through the foreign key provider's settings (500ms lock timeout, 3s budget)."""
    return SupportingIndexProvider()


def props(table="ix.child", columns=("parent_id",)):
    return {"table": table, "columns": list(columns), "constraints": ["fk_child_parent"]}


def index_names(conn, table="ix.child"):
    return {name: valid for name, valid in conn.execute(
        "SELECT indexrelid::regclass::text, indisvalid FROM pg_index WHERE indrelid = %s::regclass "
        "AND NOT indisprimary", (table,))}


def hold_row_exclusive(conn_settings, seconds: float) -> threading.Thread:
    """A writer's open transaction on ix.child for `seconds`: CREATE INDEX CONCURRENTLY commits its
    catalog entry, then waits for it, so a timeout there leaves an INVALID index behind."""
    started = threading.Event()

    def hold():
        with conn_settings.connect(autocommit=False) as blocker:
            blocker.execute("LOCK TABLE ix.child IN ROW EXCLUSIVE MODE")
            started.set()
            time.sleep(seconds)
            blocker.rollback()

    thread = threading.Thread(target=hold)
    thread.start()
    started.wait(5)
    return thread


def test_check_plans_the_concurrent_build_or_the_adoption(index_provider, ix):
    planned = index_provider.check({}, props()).inputs["plannedSql"]
    assert planned == [f"{BUILD};  -- on its own, outside any transaction block: SHARE UPDATE EXCLUSIVE on the table, "
                       "reads and writes continue during the build; a failed build's INVALID index is dropped (DROP "
                       "INDEX CONCURRENTLY)",
                       f"{MARK};  -- SHARE UPDATE EXCLUSIVE on the new index alone: marks it as fkguard's, to be "
                       "dropped with the last key that needs it",
                       f"{RENAME};  -- in the same transaction, the same lock: its name (until then the name says whose "
                       "it is, should the run die during the build)"]
    adopting, = index_provider.check({}, props(columns=("other_id",))).inputs["plannedSql"]
    assert adopting.startswith("-- adopts ix.child_other_first, a valid index that leads with (other_id): nothing is "
                               "built, and fkguard will never drop it")


def test_create_builds_read_sees_it_delete_drops_it(index_provider, ix):
    created = index_provider.create(index_provider.check({}, props()).inputs)
    assert created.id == "ix.child_parent_id_idx"
    assert (created.outs["indexName"], created.outs["ours"], created.outs["state"]) == ("child_parent_id_idx", True, "valid")
    assert created.outs["sql"] == [BUILD, MARK, RENAME]
    assert index_names(ix) == {"ix.child_other_first": True, "ix.child_parent_id_idx": True}

    read = index_provider.read(created.id, created.outs)
    assert read.outs == created.outs  # refresh: no drift
    assert index_provider.diff(created.id, read.outs, props()).changes is False

    index_provider.delete(created.id, created.outs)
    assert index_names(ix) == {"ix.child_other_first": True}
    assert index_provider.read(created.id, created.outs).id is None  # refresh: gone


def test_an_existing_valid_index_is_adopted_not_duplicated_and_never_dropped(index_provider, ix):
    adopted = index_provider.create(props(columns=("other_id",)))
    assert (adopted.outs["indexName"], adopted.outs["ours"]) == ("child_other_first", False)
    assert adopted.outs["sql"] == ["-- adopted ix.child_other_first, a valid index that leads with (other_id); "
                                   "fkguard will never drop it"]
    assert index_names(ix) == {"ix.child_other_first": True}
    index_provider.delete(adopted.id, adopted.outs)
    assert index_names(ix) == {"ix.child_other_first": True}


def test_only_an_index_not_fkguards_spares_a_key_its_resource(ix):
    """indexes.unmanaged, the program's one query: a team's valid index serves as it is; fkguard's own (marked), a
    missing or an INVALID one needs the SupportingIndex resource."""
    parent, other = indexes.Wanted(CHILD, ("parent_id",)), indexes.Wanted(CHILD, ("other_id",))
    missing = indexes.Wanted(QualifiedName("ix", "nowhere"), ("parent_id",))
    assert indexes.unmanaged(ix, [parent, other, missing]) == {other}
    ix.execute("CREATE INDEX child_parent_id_idx ON ix.child (parent_id)")  # PostgreSQL's default name is fkguard's too
    assert indexes.unmanaged(ix, [parent, other]) == {parent, other}
    ix.execute(MARKED)
    assert indexes.unmanaged(ix, [parent, other]) == {other}
    ix.execute("CREATE INDEX team_index ON ix.child (parent_id, id)")  # fkguard's stays managed beside a team's
    assert indexes.unmanaged(ix, [parent]) == set()


def test_create_takes_back_fkguards_own_index_from_an_earlier_run(index_provider, ix):
    ix.execute("CREATE INDEX child_parent_id_idx ON ix.child (parent_id)")
    ix.execute(MARKED)
    assert index_provider.check({}, props()).inputs["plannedSql"] == [
        "-- ix.child_parent_id_idx is fkguard's own, built by an earlier run: nothing is built"]
    created = index_provider.create(props())
    assert (created.outs["ours"], created.outs["sql"]) == (True, [
        "-- ix.child_parent_id_idx is fkguard's own, built by an earlier run"])
    index_provider.delete(created.id, created.outs)
    assert index_names(ix) == {"ix.child_other_first": True}


def test_delete_keeps_fkguards_index_while_a_key_on_its_columns_needs_it(index_provider, ix):
    """The resource can leave the state while its key stays (index: none; a stack from before the marker, whose
    program no longer registers the index): dropping it then would make every parent delete scan the child."""
    created = index_provider.create(props())
    ix.execute(TO_PARENT)
    index_provider.delete(created.id, created.outs)
    assert index_names(ix) == {"ix.child_other_first": True, "ix.child_parent_id_idx": True}
    ix.execute("ALTER TABLE ix.child DROP CONSTRAINT fk_child_parent")
    index_provider.delete(created.id, created.outs)  # the last key gone: now it goes
    assert index_names(ix) == {"ix.child_other_first": True}


def test_an_index_fkguard_built_before_the_marker_is_kept_and_marked(index_provider, ix):
    ix.execute("CREATE INDEX child_parent_id_idx ON ix.child (parent_id)")
    ix.execute(TO_PARENT)
    legacy = {**props(), "indexName": "child_parent_id_idx", "ours": True}
    index_provider.delete("ix.child_parent_id_idx", legacy)
    assert index_names(ix) == {"ix.child_other_first": True, "ix.child_parent_id_idx": True}
    assert indexes.unmanaged(ix, [indexes.Wanted(CHILD, ("parent_id",))]) == set()  # the next run takes it back


def test_an_invalid_index_is_not_adopted(index_provider, ix):
    as_superuser("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ix.child_other_first'::regclass")
    created = index_provider.create(props(columns=("other_id",)))
    assert (created.outs["indexName"], created.outs["ours"]) == ("child_other_id_idx", True)


def test_a_build_that_times_out_on_a_lock_drops_its_invalid_index_and_retries(index_provider, ix, pg):
    blocker = hold_row_exclusive(pg, 1.2)
    try:
        created = index_provider.create(props())
    finally:
        blocker.join()
    ran = created.outs["sql"]
    assert ran[0] == f'DROP INDEX CONCURRENTLY IF EXISTS "ix"."{BUILDING}";  -- the INVALID index a failed build left'
    assert ran[-3:] == [BUILD, MARK, RENAME]
    assert index_names(ix) == {"ix.child_other_first": True, "ix.child_parent_id_idx": True}


def test_a_build_cancelled_by_statement_timeout_is_reported_and_leaves_nothing(ix, pg):
    blocker = hold_row_exclusive(pg, 1.0)
    try:
        with pytest.raises(indexes.IndexBuildError) as err:
            BuildIndex(indexes.Wanted(CHILD, ("parent_id",)),
                       LockPolicy(lock_timeout_ms=5000, budget_ms=10_000, statement_timeout_ms=200)).run(ix)
    finally:
        blocker.join()
    assert str(err.value) == (
        f"CREATE INDEX CONCURRENTLY ix.{BUILDING} on ix.child failed: canceling statement due to statement "
        "timeout (fkguard:statementTimeout: raise it, or build in a quieter hour); the INVALID index it left was "
        f'dropped (DROP INDEX CONCURRENTLY IF EXISTS "ix"."{BUILDING}"). The foreign key waits for it: fix '
        "the cause, then run pulumi up again")
    assert index_names(ix) == {"ix.child_other_first": True}


def test_refresh_reports_an_invalid_index_and_up_rebuilds_it(index_provider, ix):
    created = index_provider.create(props())
    as_superuser("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ix.child_parent_id_idx'::regclass")
    read = index_provider.read(created.id, created.outs)
    assert (read.outs["state"], read.outs["valid"]) == ("invalid", False)
    assert index_provider.diff(created.id, read.outs, props()).changes is True
    updated = index_provider.update(created.id, read.outs, props())
    assert updated.outs["state"] == "valid"
    assert updated.outs["sql"][0].startswith('DROP INDEX CONCURRENTLY IF EXISTS "ix"."child_parent_id_idx"')
    assert index_names(ix) == {"ix.child_other_first": True, "ix.child_parent_id_idx": True}


def test_a_partitioned_table_is_indexed_per_partition_then_attached_and_dropped_whole(index_provider, ix):
    ix.execute(PARTED)
    planned = [p.split(";  --")[0] for p in index_provider.check({}, props("ix.events")).inputs["plannedSql"]]
    created = index_provider.create(props("ix.events"))
    assert created.outs["sql"] == [
        'CREATE INDEX CONCURRENTLY "events_2024_parent_id_idx" ON "ix"."events_2024" ("parent_id")',
        'CREATE INDEX CONCURRENTLY "events_2025_eu_parent_id_idx" ON "ix"."events_2025_eu" ("parent_id")',
        'CREATE INDEX CONCURRENTLY "events_2025_us_parent_id_idx" ON "ix"."events_2025_us" ("parent_id")',
        'CREATE INDEX IF NOT EXISTS "events_2025_parent_id_idx" ON ONLY "ix"."events_2025" ("parent_id")',
        'ALTER INDEX "ix"."events_2025_parent_id_idx" ATTACH PARTITION "ix"."events_2025_eu_parent_id_idx"',
        'ALTER INDEX "ix"."events_2025_parent_id_idx" ATTACH PARTITION "ix"."events_2025_us_parent_id_idx"',
        'CREATE INDEX IF NOT EXISTS "events_parent_id_idx" ON ONLY "ix"."events" ("parent_id")',
        'ALTER INDEX "ix"."events_parent_id_idx" ATTACH PARTITION "ix"."events_2024_parent_id_idx"',
        'ALTER INDEX "ix"."events_parent_id_idx" ATTACH PARTITION "ix"."events_2025_parent_id_idx"',
        MARKED.replace('"child_parent_id_idx"', '"events_parent_id_idx"')]
    assert [s.replace(" IF NOT EXISTS", "") for s in created.outs["sql"]] == planned
    assert (created.outs["indexName"], created.outs["ours"], created.outs["state"]) == ("events_parent_id_idx", True,
                                                                                          "valid")
    valid = ix.execute("SELECT count(*), bool_and(indisvalid) FROM pg_index WHERE indrelid::regclass::text "
                       "LIKE 'ix.events%'").fetchone()
    assert tuple(valid) == (5, True)
    index_provider.delete(created.id, created.outs)
    assert ix.execute("SELECT count(*) FROM pg_index WHERE indrelid::regclass::text LIKE 'ix.events%'").fetchone()[0] == 0


CATALOG_ENTRY = """constraints:
  - name: fk_a
    table: public.a
    columns: [b_id]
    references: public.b
    referenced_columns: [id]
"""


@pytest.mark.parametrize("extra, message", [
    ("    index: sometimes\n", "catalog.yaml entry 1 (fk_a): index 'sometimes' is not one of auto, required, none; "
                             "auto (the default) builds the index when none leads with the columns"),
    ("    index: required\n    waivers: [{policy: referencing-index, reason: small, by: ana}]\n",
     "catalog.yaml entry 1 (fk_a): index: required and a waiver of referencing-index contradict each other; keep one"),
])
def test_a_bad_index_choice_is_one_line(tmp_path, extra, message):
    (tmp_path / "catalog.yaml").write_text(CATALOG_ENTRY + extra)
    with pytest.raises(CatalogError) as err:
        load_catalog(tmp_path / "catalog.yaml")
    assert str(err.value) == message


def test_index_choice_defaults_to_auto_and_is_not_part_of_the_definition(tmp_path):
    (tmp_path / "catalog.yaml").write_text(CATALOG_ENTRY)
    [plain] = load_catalog(tmp_path / "catalog.yaml")
    (tmp_path / "catalog.yaml").write_text(CATALOG_ENTRY + "    index: None\n")
    [none] = load_catalog(tmp_path / "catalog.yaml")
    assert (plain.index, none.index) == ("auto", "none")
    assert plain == none  # no replacement of the constraint when only its index choice changes


def test_the_index_name_is_the_convention_within_63_bytes_and_long_ones_stay_apart(ix):
    from fkguard.ddl import index_name

    assert index_name(CHILD, ("parent_id",)) == "child_parent_id_idx"
    long_table = QualifiedName("ix", "ledger_entry_" + "x" * 30)
    one, other = index_name(long_table, ("account_reference_a",)), index_name(long_table, ("account_reference_b",))
    assert one != other and one[:54] == other[:54]
    assert max(len(one.encode()), len(index_name(QualifiedName("ix", "é" * 40), ("ü" * 20,)).encode())) <= 63
    # PostgreSQL keeps the name as given (a longer one it would cut, and two could collide)
    ix.execute(f'CREATE TABLE ix."{long_table.name}" (account_reference_a int, account_reference_b int)')
    for column in ("account_reference_a", "account_reference_b"):
        BuildIndex(indexes.Wanted(long_table, (column,)), LockPolicy()).run(ix)
    assert sorted(index_names(ix, f'ix."{long_table.name}"')) == sorted([f"ix.{one}", f"ix.{other}"])


def test_row_estimate_reads_statistics_counts_a_table_never_analyzed_and_sums_partitions(ix):
    ix.execute(PARTED)
    ix.execute("CREATE TABLE ix.fresh (id int); INSERT INTO ix.fresh SELECT generate_series(1, 123)")
    assert ix.execute("SELECT reltuples FROM pg_class WHERE oid = 'ix.fresh'::regclass").fetchone()[0] == -1
    assert indexes.row_estimate(ix, QualifiedName("ix", "fresh")) == 123  # never analyzed: counted
    ix.execute("ANALYZE ix.events")
    assert indexes.row_estimate(ix, QualifiedName("ix", "events")) == 2000  # its three leaves together


def test_a_build_postgresql_finished_after_its_run_died_is_named_not_taken_for_the_schemas(index_provider, ix):
    """A CONCURRENTLY build goes on in PostgreSQL when the pulumi that sent it is killed; the next run knows the valid
    index by the name it was built under, marks and renames it, and builds nothing again."""
    ix.execute(f'CREATE INDEX "{BUILDING}" ON ix.child (parent_id)')  # what the dead run's build left, unmarked
    assert indexes.unmanaged(ix, [indexes.Wanted(CHILD, ("parent_id",))]) == set()  # so the program registers it
    created = index_provider.create(props())
    assert created.outs["sql"] == [f"-- ix.{BUILDING}: the build of a run that died, which PostgreSQL finished",
                                   MARK, RENAME]
    assert (created.outs["indexName"], created.outs["ours"]) == ("child_parent_id_idx", True)
    assert index_names(ix) == {"ix.child_other_first": True, "ix.child_parent_id_idx": True}
    index_provider.delete(created.id, created.outs)
    assert index_names(ix) == {"ix.child_other_first": True}  # fkguard's, so dropped with its key's resource
