"""A partitioned referencing table on PostgreSQL 15, through the provider called directly: NOT VALID on
each leaf partition, VALIDATE each, then the parent's constraint attached without a scan; crash
recovery, preview, refresh and rollback. The schema is this file's own: events range-partitioned by
year, 2025 sub-partitioned by channel."""

import time

import psycopg
import pytest

from fkguard import audit, orphans, partitions, quarantine, remediate, rollout
from fkguard.catalog import ForeignKey, QualifiedName
from fkguard.locks import LockPolicy
from fkguard.operations import DropConstraint, Validate
from fkguard.resource_properties import inputs_of
from fkguard.rollout import RolloutError

SCHEMA = """
DROP SCHEMA IF EXISTS parts CASCADE;
CREATE SCHEMA parts;
CREATE TABLE parts.account (id int PRIMARY KEY);
INSERT INTO parts.account SELECT generate_series(1, 500);
CREATE TABLE parts.event (id bigint, account_id int, happened date NOT NULL, channel text NOT NULL,
    PRIMARY KEY (id, happened, channel)) PARTITION BY RANGE (happened);
CREATE TABLE parts.event_2024 PARTITION OF parts.event FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE parts.event_2025 PARTITION OF parts.event FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')
    PARTITION BY LIST (channel);
CREATE TABLE parts.event_2025_web PARTITION OF parts.event_2025 FOR VALUES IN ('web');
CREATE TABLE parts.event_2025_app PARTITION OF parts.event_2025 FOR VALUES IN ('app');
"""
# rows spread over the three leaves (2024, 2025 web, 2025 app), every one with a parent
FILL = ("INSERT INTO parts.event SELECT g, 1 + g %% 500, date '2024-01-01' + (g %% 700), "
        "CASE WHEN g %% 2 = 0 THEN 'web' ELSE 'app' END FROM generate_series(%s::int, %s::int) g")

EVENT = QualifiedName("parts", "event")
LEAVES = [QualifiedName("parts", n) for n in ("event_2024", "event_2025_app", "event_2025_web")]
FK = ForeignKey("fk_event_account", "high", EVENT, ("account_id",), QualifiedName("parts", "account"), ("id",),
                "RESTRICT")


@pytest.fixture()
def parted(conn, monkeypatch):
    # These tests prove the per-leaf path, which fkguard takes before PostgreSQL 18. On 18 it takes the
    # parent path instead (test_e2e_partitions_later, the rollout tests); the per-leaf path must still
    # be exact there, so it is forced.
    monkeypatch.setattr(partitions, "NOT_VALID_ON_PARTITIONED", 10 ** 9)
    conn.execute(SCHEMA)
    conn.execute(FILL, (1, 3000))
    yield conn
    conn.execute("DROP SCHEMA parts CASCADE")
    if conn.execute("SELECT to_regclass('fkguard_quarantine.rows')").fetchone()[0]:
        conn.execute("DELETE FROM fkguard_quarantine.rows WHERE source_schema = 'parts'")


def named(conn) -> dict[str, tuple[bool, bool]]:
    """table -> (validated, attached to a parent constraint) for every foreign key in schema parts."""
    return {t: (v, p) for t, v, p in conn.execute(
        "SELECT conrelid::regclass::text, convalidated, conparentid <> 0 FROM pg_constraint "
        "WHERE contype = 'f' AND connamespace = 'parts'::regnamespace AND conname = 'fk_event_account'")}


def props(validated=False):
    return inputs_of(FK, validated)


def test_the_tree_is_walked_to_its_leaves(parted):
    assert partitions.uses_leaves(parted, EVENT)
    assert partitions.leaves(parted, EVENT) == LEAVES
    assert [(p.table.name, p.parent.name, p.leaf) for p in partitions.tree(parted, EVENT)] == [
        ("event_2024", "event", True), ("event_2025", "event", False),
        ("event_2025_app", "event_2025", True), ("event_2025_web", "event_2025", True)]


def test_create_is_not_valid_on_each_leaf_and_validate_attaches_the_parent(provider, parted):
    created = provider.create(props())
    assert created.id == "parts.event/fk_event_account"
    assert (created.outs["state"], created.outs["convalidated"]) == ("not valid", False)
    assert created.outs["sql"] == [f'ALTER TABLE "parts"."{t.name}" ADD CONSTRAINT "fk_event_account" FOREIGN KEY '
                                   f'("account_id") REFERENCES "parts"."account" ("id") ON DELETE RESTRICT NOT VALID'
                                   for t in LEAVES]
    assert named(parted) == {"parts.event_2024": (False, False), "parts.event_2025_app": (False, False),
                             "parts.event_2025_web": (False, False)}
    assert created.outs["definition"].endswith("ON DELETE RESTRICT NOT VALID")
    # refresh: what is there reads back as the catalog's entry, not validated: no drift
    read = provider.read(created.id, created.outs)
    assert (read.id, read.outs["state"], read.inputs["validated"]) == (created.id, "not valid", False)
    assert provider.diff(created.id, read.outs, props()).changes is False

    updated = provider.update(created.id, created.outs, props(validated=True))
    assert (updated.outs["state"], updated.outs["convalidated"]) == ("validated", True)
    assert updated.outs["sql"] == [
        *(f'ALTER TABLE "parts"."{t.name}" VALIDATE CONSTRAINT "fk_event_account"' for t in LEAVES),
        'ALTER TABLE "parts"."event" ADD CONSTRAINT "fk_event_account" FOREIGN KEY ("account_id") REFERENCES '
        '"parts"."account" ("id") ON DELETE RESTRICT']
    # one constraint per table, all of one name: the leaves' own attached, the intermediate one made by the cascade
    assert named(parted) == {"parts.event": (True, False), "parts.event_2024": (True, True),
                             "parts.event_2025": (True, True), "parts.event_2025_app": (True, True),
                             "parts.event_2025_web": (True, True)}
    read = provider.read(created.id, updated.outs)
    assert (read.outs["state"], read.inputs["validated"]) == ("validated", True)
    assert provider.diff(created.id, read.outs, props(validated=True)).changes is False
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        parted.execute("INSERT INTO parts.event VALUES (0, 9999, '2025-03-01', 'web')")

    provider.delete(created.id, updated.outs)
    assert named(parted) == {}
    assert provider.read(created.id, updated.outs).id is None


def test_delete_of_the_not_valid_state_drops_every_leaf(provider, parted):
    created = provider.create(props())
    provider.delete(created.id, created.outs)
    assert named(parted) == {}


def test_create_with_validated_runs_all_three_steps(provider, parted):
    created = provider.create(props(validated=True))
    assert created.outs["state"] == "validated"
    assert len(created.outs["sql"]) == 7  # 3 adds, 3 validations, the parent
    assert set(named(parted).values()) == {(True, False), (True, True)}


def test_a_crash_between_steps_converges(provider, parted):
    # after step 1 was cut short: one leaf has it, the others not; the whole reads as absent
    parted.execute(rollout.ddl.add_not_valid(partitions.on(FK, LEAVES[1])))
    assert provider.read("parts.event/fk_event_account", props()).id is None
    created = provider.create(props())
    assert created.outs["sql"][1] == "-- adopted the existing constraint fk_event_account, which matches on " \
                                     "parts.event_2025_app"
    assert created.outs["state"] == "not valid" and len(named(parted)) == 3
    # after step 2 was cut short: two leaves validated, no parent: still "not valid", and validate finishes
    for leaf in LEAVES[:2]:
        parted.execute(rollout.ddl.validate(partitions.on(FK, leaf)))
    assert provider.read(created.id, created.outs).outs["state"] == "not valid"
    updated = provider.update(created.id, created.outs, props(validated=True))
    assert updated.outs["sql"][0] == 'ALTER TABLE "parts"."event_2025_web" VALIDATE CONSTRAINT "fk_event_account"'
    assert updated.outs["state"] == "validated" and len(updated.outs["sql"]) == 2
    provider.delete(created.id, updated.outs)


def test_a_leaf_with_another_definition_is_refused_before_anything_runs_on_it(provider, parted):
    parted.execute("ALTER TABLE parts.event_2025_web ADD CONSTRAINT fk_event_account FOREIGN KEY (account_id) "
                   "REFERENCES parts.account (id) ON DELETE CASCADE NOT VALID")
    with pytest.raises(RolloutError, match="parts.event_2025_web already has a constraint named fk_event_account "
                                           "with another definition"):
        provider.create(props())
    # refresh shows the odd leaf's definition, so the diff replaces it
    read = provider.read("parts.event/fk_event_account", props())
    assert read.inputs["onDelete"] == "CASCADE"


def test_orphans_in_one_partition_are_named_with_that_partition(provider, parted):
    created = provider.create(props())
    parted.execute("ALTER TABLE parts.event_2025_app DROP CONSTRAINT fk_event_account")
    parted.execute("INSERT INTO parts.event VALUES (0, 9001, '2025-02-01', 'app'), (0, 9002, '2025-02-02', 'app')")
    parted.execute(rollout.ddl.add_not_valid(partitions.on(FK, LEAVES[1])))
    with pytest.raises(RolloutError) as err:
        provider.update(created.id, created.outs, props(validated=True))
    assert str(err.value).startswith("VALIDATE CONSTRAINT fk_event_account failed: 2 rows of parts.event_2025_app "
                                     "have no parent in parts.account")
    assert "parts.event" not in named(parted)  # no parent step over orphans
    provider.delete(created.id, created.outs)


def test_preview_plans_each_partition_with_its_locks_and_no_refusal(provider, parted):
    result = provider.check({}, props(validated=True))
    assert result.failures == []
    plan = result.inputs["plannedSql"]
    assert len(plan) == 7
    assert plan[0].startswith('ALTER TABLE "parts"."event_2024" ADD CONSTRAINT "fk_event_account"')
    assert plan[0].endswith("NOT VALID;  -- partition of parts.event: SHARE ROW EXCLUSIVE on parts.event_2024 and "
                            "parts.account, held for milliseconds: no scan")
    assert plan[3].startswith('ALTER TABLE "parts"."event_2024" VALIDATE CONSTRAINT "fk_event_account";  -- in its own '
                              "transaction: SHARE UPDATE EXCLUSIVE on parts.event_2024")
    assert plan[6].startswith('ALTER TABLE "parts"."event" ADD CONSTRAINT "fk_event_account" FOREIGN KEY ("account_id") '
                              'REFERENCES "parts"."account" ("id") ON DELETE RESTRICT;  -- SHARE ROW EXCLUSIVE on '
                              "parts.event, its partitions and parts.account")
    assert "attaches the validated partition constraints, no scan" in plan[6]
    assert named(parted) == {}  # preview ran nothing


def flush_stats(conn) -> None:
    """Make this session's table statistics visible to others. PostgreSQL 15+ has a function for it; 14
    sends them to its collector at a transaction's end at most every 500 ms, which then needs a moment."""
    if conn.info.server_version >= 150000:
        conn.execute("SELECT pg_stat_force_next_flush()")
        return
    time.sleep(0.6)
    conn.execute("SELECT 1")  # a transaction's end after the interval: the counters go out
    time.sleep(1.0)


def scans(settings) -> dict[str, tuple[int, int]]:
    """seq_scan, idx_scan per table of schema parts, as the statistics have them after a flush."""
    with settings.connect() as fresh:  # a new session: its snapshot is current
        return {r[0]: (r[1], r[2] or 0) for r in fresh.execute(
            "SELECT relname, seq_scan, idx_scan FROM pg_stat_user_tables WHERE schemaname = 'parts'")}


def test_the_parent_step_scans_no_partition(pg, parted):
    parted.execute(FILL, (3001, 30000))  # tenfold
    for leaf in LEAVES:
        parted.execute(rollout.ddl.add_not_valid(partitions.on(FK, leaf)))
        parted.execute(rollout.ddl.validate(partitions.on(FK, leaf)))
    flush_stats(parted)
    before = scans(pg)
    out = Validate(FK, LockPolicy()).run(parted)  # only the parent step is left
    assert out.sql == ['ALTER TABLE "parts"."event" ADD CONSTRAINT "fk_event_account" FOREIGN KEY ("account_id") '
                       'REFERENCES "parts"."account" ("id") ON DELETE RESTRICT']
    flush_stats(parted)
    after = scans(pg)
    assert after == before, (before, after)
    # the control: a parent step over a NOT VALID leaf scans it (PostgreSQL 15 does not attach those)
    DropConstraint(FK, LockPolicy()).run(parted)
    parted.execute(rollout.ddl.add_not_valid(partitions.on(FK, LEAVES[0])))
    flush_stats(parted)
    before = scans(pg)
    parted.execute(rollout.ddl.add_attaching(FK))
    flush_stats(parted)
    after = scans(pg)
    assert after["event_2024"][0] > before["event_2024"][0]


def test_audit_gate_and_remediation_count_across_every_partition(provider, pg, parted):
    parted.execute("INSERT INTO parts.event VALUES (-1, 9001, '2024-05-01', 'web'), (-2, 9002, '2024-06-01', 'app'), "
                   "(-3, 9003, '2025-02-01', 'web'), (-4, 9003, '2025-02-02', 'web'), (-5, 9004, '2025-03-01', 'web')")
    # what VALIDATE of each leaf says, one by one
    provider.create(props())
    said = {}
    for leaf in LEAVES:
        try:
            Validate(partitions.on(FK, leaf), LockPolicy()).run(parted)
            said[leaf.name] = 0
        except RolloutError as err:
            said[leaf.name] = int(str(err).split(" rows of ")[0].rsplit(" ", 1)[1])
    assert said == {"event_2024": 2, "event_2025_app": 0, "event_2025_web": 3}
    finding, = audit.audit(pg, [FK])
    assert finding.orphans == sum(said.values()) == orphans.count_orphans(parted, FK)
    assert sorted(k[0] for k in orphans.sample_orphan_keys(parted, FK, 10)) == [9001, 9002, 9003, 9004]
    # remediation takes them out of both partitions, keeps a copy, and undo puts each back where it was
    before = sorted(parted.execute("SELECT tableoid::regclass::text, id FROM parts.event WHERE id < 0").fetchall())
    result = remediate.apply(parted, FK, "delete", "parts-b1")
    assert result.rows == 5 and orphans.count_orphans(parted, FK) == 0
    assert parted.execute("SELECT count(*) FROM parts.event WHERE id < 0").fetchone()[0] == 0
    done = Validate(FK, LockPolicy()).run(parted)
    assert done.state == "validated"
    DropConstraint(FK, LockPolicy()).run(parted)
    assert quarantine.undo(parted, "parts-b1") == 5
    assert sorted(parted.execute("SELECT tableoid::regclass::text, id FROM parts.event WHERE id < 0").fetchall()) == before
