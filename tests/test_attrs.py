"""Every attribute a PostgreSQL foreign key can have, through fkguard: what it creates must read back
from pg_get_constraintdef exactly as PostgreSQL's own hand-written SQL does, same_as must see a
change of any one attribute, and the provider must neither adopt nor overlook a different one."""

from dataclasses import replace

import pytest

from fkguard import ddl, introspect, rollout
from fkguard.catalog import COLUMN_LIST_ACTIONS, ForeignKey, QualifiedName
from fkguard.locks import LockPolicy
from fkguard.operations import AddNotValid
from fkguard.problems import Problem
from fkguard.resource_properties import ALTER_ON, DEFAULTS, inputs_of
from fkguard.rollout import RolloutError

# A team keyed by (org_id, id), with a unique constraint and a separate unique index besides; members
# point at it. Each *_twin table gets the same constraint written by hand.
SCHEMA = """
DROP SCHEMA IF EXISTS attrs CASCADE;
CREATE SCHEMA attrs;
CREATE TABLE attrs.team (org_id int, id int, code text NOT NULL, slug text NOT NULL,
                         PRIMARY KEY (org_id, id), CONSTRAINT team_code_key UNIQUE (code));
CREATE UNIQUE INDEX team_slug_idx ON attrs.team (slug);
CREATE TABLE attrs.member (id int PRIMARY KEY, org_id int NOT NULL DEFAULT 0, team_id int DEFAULT 0,
                           team_code text, team_slug text);
CREATE TABLE attrs.member_twin (LIKE attrs.member INCLUDING ALL);
CREATE TABLE attrs."Mixed Parent" ("Org Id" int PRIMARY KEY);
CREATE TABLE attrs."Mixed Child" (id int PRIMARY KEY, "Org Ref" int);
CREATE TABLE attrs."Mixed Child_twin" (LIKE attrs."Mixed Child" INCLUDING ALL);
"""

MEMBER, TEAM = QualifiedName("attrs", "member"), QualifiedName("attrs", "team")
TO_TEAM = "FOREIGN KEY (org_id, team_id) REFERENCES attrs.team (org_id, id)"


def key(name: str = "fk_attrs_member_team", **changes) -> ForeignKey:
    base = dict(name=name, tier="high", table=MEMBER, columns=("org_id", "team_id"), references=TEAM,
                referenced_columns=("org_id", "id"))
    return ForeignKey(**{**base, **changes})


# (case, the catalog's foreign key, the same written by hand for the twin table)
CASES = [
    ("deferrable", key(deferrable=True), f"{TO_TEAM} DEFERRABLE"),
    ("deferrable initially deferred", key(deferrable=True, initially_deferred=True),
     f"{TO_TEAM} DEFERRABLE INITIALLY DEFERRED"),
    ("on delete set null (col)", key(on_delete="SET NULL", on_delete_columns=("team_id",)),
     f"{TO_TEAM} ON DELETE SET NULL (team_id)"),
    ("on delete set default (col)", key(on_delete="SET DEFAULT", on_delete_columns=("team_id",)),
     f"{TO_TEAM} ON DELETE SET DEFAULT (team_id)"),
    ("on delete set default", key(on_delete="SET DEFAULT"), f"{TO_TEAM} ON DELETE SET DEFAULT"),
    ("on delete cascade", key(on_delete="CASCADE"), f"{TO_TEAM} ON DELETE CASCADE"),
    ("on delete restrict", key(on_delete="RESTRICT"), f"{TO_TEAM} ON DELETE RESTRICT"),
    ("on update cascade", key(on_update="CASCADE"), f"{TO_TEAM} ON UPDATE CASCADE"),
    ("match full, composite key", key(match="FULL", on_delete="CASCADE"), f"{TO_TEAM} MATCH FULL ON DELETE CASCADE"),
    ("a unique constraint, not the primary key", key(columns=("team_code",), referenced_columns=("code",)),
     "FOREIGN KEY (team_code) REFERENCES attrs.team (code)"),
    ("a unique index, not a constraint", key(columns=("team_slug",), referenced_columns=("slug",)),
     "FOREIGN KEY (team_slug) REFERENCES attrs.team (slug)"),
    ("quoted mixed-case names", key(table=QualifiedName("attrs", "Mixed Child"), columns=("Org Ref",),
                                    references=QualifiedName("attrs", "Mixed Parent"), referenced_columns=("Org Id",),
                                    on_delete="CASCADE"),
     'FOREIGN KEY ("Org Ref") REFERENCES attrs."Mixed Parent" ("Org Id") ON DELETE CASCADE'),
    ("all clauses in order", key(match="FULL", on_delete="SET DEFAULT", on_delete_columns=("team_id",),
                                 on_update="CASCADE", deferrable=True, initially_deferred=True),
     f"{TO_TEAM} MATCH FULL ON DELETE SET DEFAULT (team_id) ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED"),
]

DEFERRALS = {(False, False), (True, False), (True, True)}


def one_attribute_changes(fk: ForeignKey) -> list[tuple[str, ForeignKey]]:
    """The foreign key changed in one attribute at a time."""
    changes = [
        ("columns", replace(fk, columns=(*fk.columns[:-1], "other"))),
        ("references", replace(fk, references=QualifiedName(fk.references.schema, "other"))),
        ("referenced_columns", replace(fk, referenced_columns=(*fk.referenced_columns[:-1], "other"))),
        ("match", replace(fk, match="SIMPLE" if fk.match == "FULL" else "FULL")),
        ("on_delete", replace(fk, on_delete="CASCADE" if fk.on_delete != "CASCADE" else "NO ACTION",
                              on_delete_columns=())),
        ("on_update", replace(fk, on_update="CASCADE" if fk.on_update != "CASCADE" else "NO ACTION")),
    ]
    if fk.on_delete in COLUMN_LIST_ACTIONS:
        changes.append(("on_delete_columns", replace(fk, on_delete_columns=() if fk.on_delete_columns
                                                     else fk.columns[-1:])))
    for deferrable, deferred in sorted(DEFERRALS - {(fk.deferrable, fk.initially_deferred)}):
        changes.append(("deferral", replace(fk, deferrable=deferrable, initially_deferred=deferred)))
    return changes


@pytest.fixture()
def schema(conn):
    conn.execute(SCHEMA)
    yield conn
    conn.execute("DROP SCHEMA attrs CASCADE")


def definition(conn, table: QualifiedName, name: str) -> str:
    return conn.execute("SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                        "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = %s AND t.relname = %s "
                        "AND c.conname = %s", (table.schema, table.name, name)).fetchone()[0]


def refused_before_15(conn, fk: ForeignKey) -> bool:
    """PostgreSQL 14 has no ON DELETE SET NULL / SET DEFAULT (columns): there the test is that fkguard
    refuses it at preview, in one line, instead of sending SQL the server cannot parse."""
    if conn.info.server_version >= 150000 or not fk.on_delete_columns:
        return False
    assert (f"ON DELETE {fk.on_delete} (columns) needs PostgreSQL 15; this server is "
            f"{conn.info.server_version // 10000}: remove on_delete_columns") in [p.message for p in rollout.preflight(conn, fk)]
    return True


@pytest.mark.parametrize("case, fk, by_hand", CASES, ids=[c[0] for c in CASES])
def test_definition_equals_postgresqls_own_and_same_as_sees_each_attribute(schema, case, fk, by_hand):
    if refused_before_15(schema, fk):
        return
    assert rollout.preflight(schema, fk) == []
    outcome = AddNotValid(fk, LockPolicy()).run(schema)
    assert outcome.state == "not valid"
    twin = QualifiedName(fk.table.schema, fk.table.name + "_twin")
    schema.execute(f'ALTER TABLE attrs."{twin.name}" ADD CONSTRAINT fk_twin {by_hand} NOT VALID')
    ours, postgresqls = definition(schema, fk.table, fk.name), definition(schema, twin, "fk_twin")
    assert ours == postgresqls
    assert outcome.definition == ours

    found = introspect.read_constraint(schema, fk.table, fk.name)
    assert found is not None and found.same_as(fk) and found.differences(fk) == []
    assert found.as_foreign_key(fk.tier) == fk
    for attribute, other in one_attribute_changes(fk):
        assert not found.same_as(other), attribute
        assert len(found.differences(other)) == 1, (attribute, found.differences(other))


def test_differences_say_what_the_database_has(schema):
    fk = key(on_delete="SET NULL", on_delete_columns=("team_id",))
    if refused_before_15(schema, fk):
        return
    AddNotValid(fk, LockPolicy()).run(schema)
    schema.execute("ALTER TABLE attrs.member ALTER CONSTRAINT fk_attrs_member_team DEFERRABLE")
    found = introspect.read_constraint(schema, MEMBER, fk.name)
    assert found.differences(fk) == ["DEFERRABLE in the database, NOT DEFERRABLE in the catalog"]
    assert found.differences(replace(fk, deferrable=True, on_delete_columns=())) == [
        "ON DELETE SET NULL (team_id) in the database, ON DELETE SET NULL in the catalog"]


def test_set_null_of_listed_columns_needs_only_those_nullable(schema):
    only_team = key(on_delete="SET NULL", on_delete_columns=("team_id",))
    if refused_before_15(schema, only_team):
        return
    assert rollout.preflight(schema, only_team) == []
    problems = rollout.preflight(schema, replace(only_team, on_delete_columns=()))
    assert problems == [Problem("on_delete", "set-null-on-not-null",
                                "ON DELETE SET NULL on attrs.member.org_id, which is NOT NULL: every such "
                                "delete would fail; make the column nullable or choose another action")]


def props(fk: ForeignKey, validated: bool = False, **changes) -> dict:
    return {**inputs_of(fk, validated), **changes}


def test_create_refuses_a_hand_made_deferrable_constraint_of_its_name(provider, schema):
    schema.execute(f"ALTER TABLE attrs.member ADD CONSTRAINT fk_attrs_member_team {TO_TEAM} DEFERRABLE NOT VALID")
    with pytest.raises(RolloutError) as err:
        provider.create(props(key()))
    assert str(err.value) == (
        "attrs.member already has a constraint named fk_attrs_member_team with another definition (FOREIGN KEY "
        "(org_id, team_id) REFERENCES attrs.team(org_id, id) DEFERRABLE NOT VALID); drop or rename it, or change "
        "this constraint's name")
    assert "\n" not in str(err.value)
    assert introspect.read_constraint(schema, MEMBER, "fk_attrs_member_team").deferrable  # left as it was
    adopted = provider.create(props(key(deferrable=True)))  # the same definition is adopted
    assert adopted.outs["sql"] == ["-- adopted the existing constraint fk_attrs_member_team, which matches"]


def test_state_from_before_these_properties_diffs_as_no_change(provider):
    fk = key(on_delete="RESTRICT")
    old = {k: v for k, v in props(fk).items() if k not in DEFAULTS}
    assert set(DEFAULTS) == {"onDeleteColumns", "deferrable", "initiallyDeferred", "waivers"} and old.keys().isdisjoint(DEFAULTS)
    assert provider.diff("id", {**old, "convalidated": False}, props(fk)).changes is False
    assert provider.diff("id", {**old, "deferrable": None}, props(fk)).changes is False


def test_diff_alters_deferral_in_place_and_replaces_for_the_rest(provider):
    old = {**props(key(on_delete="SET NULL")), "convalidated": True}
    for change in ({"deferrable": True}, {"deferrable": True, "initiallyDeferred": True}):
        d = provider.diff("id", old, props(key(on_delete="SET NULL"), **change))
        assert (d.changes, d.replaces) == (True, [])
    d = provider.diff("id", old, props(key(on_delete="SET NULL", on_delete_columns=("team_id",))))
    assert (d.changes, d.replaces, d.delete_before_replace) == (True, ["onDeleteColumns"], True)
    assert ALTER_ON == ("deferrable", "initiallyDeferred")


def test_update_changes_deferral_in_place_keeping_validation(provider, schema):
    fk = key(on_delete="CASCADE")
    created = provider.create(props(fk, validated=True))
    assert created.outs["state"] == "validated"
    deferred = key(on_delete="CASCADE", deferrable=True, initially_deferred=True)
    updated = provider.update(created.id, created.outs, props(deferred, validated=True))
    assert updated.outs["sql"] == ['ALTER TABLE "attrs"."member" ALTER CONSTRAINT "fk_attrs_member_team" '
                                   'DEFERRABLE INITIALLY DEFERRED']
    assert updated.outs["state"] == "validated"
    assert definition(schema, MEMBER, fk.name) == ("FOREIGN KEY (org_id, team_id) REFERENCES attrs.team(org_id, id) "
                                                   "ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED")
    back = provider.update(created.id, updated.outs, props(fk, validated=True))
    assert back.outs["sql"][0].endswith('ALTER CONSTRAINT "fk_attrs_member_team" NOT DEFERRABLE')
    found = introspect.read_constraint(schema, MEMBER, fk.name)
    assert found.same_as(fk) and found.validated


def test_read_records_every_attribute_so_refresh_sees_drift(provider, schema):
    fk = key(on_delete="SET NULL", on_delete_columns=("team_id",))
    if refused_before_15(schema, fk):
        return
    created = provider.create(props(fk))
    schema.execute("ALTER TABLE attrs.member ALTER CONSTRAINT fk_attrs_member_team DEFERRABLE INITIALLY DEFERRED")
    read = provider.read(created.id, created.outs)
    assert (read.inputs["deferrable"], read.inputs["initiallyDeferred"], read.inputs["onDeleteColumns"]) == (
        True, True, ["team_id"])
    d = provider.diff(created.id, read.outs, props(fk))
    assert (d.changes, d.replaces) == (True, [])

    schema.execute("ALTER TABLE attrs.member DROP CONSTRAINT fk_attrs_member_team")
    schema.execute(f"ALTER TABLE attrs.member ADD CONSTRAINT fk_attrs_member_team {TO_TEAM} ON DELETE SET NULL")
    read = provider.read(created.id, created.outs)
    assert (read.inputs["onDelete"], read.inputs["onDeleteColumns"], read.inputs["deferrable"]) == ("SET NULL", [], False)
    assert provider.diff(created.id, read.outs, props(fk)).replaces == ["onDeleteColumns"]


@pytest.mark.parametrize("change, field, message", [
    ({"initiallyDeferred": True}, "initiallyDeferred", "initially_deferred: true needs deferrable: true"),
    ({"deferrable": "yes"}, "deferrable", "'deferrable' must be true or false, got 'yes'"),
    ({"onDelete": "SET NULL", "onDeleteColumns": ["id"]}, "onDeleteColumns",
     "on_delete_columns id is not among the constraint's columns (org_id, team_id)"),
    ({"onDelete": "RESTRICT", "onDeleteColumns": ["team_id"]}, "onDeleteColumns",
     "on_delete_columns is for ON DELETE SET NULL or SET DEFAULT only, not RESTRICT"),
])
def test_check_names_the_property(provider, change, field, message):
    result = provider.check({}, props(key(), **change))
    assert [(f.property, message in f.reason) for f in result.failures] == [(field, True)]


def test_check_plans_every_clause(provider, schema):
    fk = CASES[-1][1]
    result = provider.check({}, props(fk))
    if refused_before_15(schema, fk):
        assert [f.property for f in result.failures] == ["onDeleteColumns"]
        return
    assert result.failures == []
    assert result.inputs["plannedSql"][0].startswith(
        'ALTER TABLE "attrs"."member" ADD CONSTRAINT "fk_attrs_member_team" FOREIGN KEY ("org_id", "team_id") '
        'REFERENCES "attrs"."team" ("org_id", "id") MATCH FULL ON DELETE SET DEFAULT ("team_id") ON UPDATE CASCADE '
        'DEFERRABLE INITIALLY DEFERRED NOT VALID;  -- SHARE ROW EXCLUSIVE')


def test_check_plans_an_alter_for_a_deferral_change(provider, schema):
    result = provider.check(props(key()), props(key(deferrable=True)))
    assert result.failures == []
    assert result.inputs["plannedSql"] == [
        'ALTER TABLE "attrs"."member" ALTER CONSTRAINT "fk_attrs_member_team" DEFERRABLE INITIALLY IMMEDIATE;  '
        "-- ACCESS EXCLUSIVE on attrs.member, held for milliseconds: no scan, and the constraint keeps its validation"]


def test_alter_constraint_takes_the_lock_the_plan_says(schema):
    fk = key()
    AddNotValid(fk, LockPolicy()).run(schema)
    with schema.transaction(force_rollback=True):
        schema.execute(ddl.alter_deferrable(replace(fk, deferrable=True)))
        modes = {r[0] for r in schema.execute(
            "SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation' "
            "AND relation = 'attrs.member'::regclass")}
    assert "AccessExclusiveLock" in modes


def test_a_server_before_15_is_read_without_confdelsetcols_and_a_column_list_refused(schema, monkeypatch):
    fk = key(on_delete="SET NULL", on_delete_columns=("team_id",))
    # On 15+ the column list is made and must read as absent through 14's eyes; a real 14 cannot make it.
    AddNotValid(fk if schema.info.server_version >= 150000 else replace(fk, on_delete_columns=()), LockPolicy()).run(schema)
    monkeypatch.setattr(type(schema.info), "server_version", property(lambda _: 140011))
    found = introspect.read_constraint(schema, MEMBER, fk.name)
    assert found.differences(fk) == ["ON DELETE SET NULL in the database, ON DELETE SET NULL (team_id) in the catalog"]
    assert found.same_as(replace(fk, on_delete_columns=()))
    assert Problem("on_delete_columns", "server-too-old", "ON DELETE SET NULL (columns) needs PostgreSQL 15; this "
                   "server is 14: remove on_delete_columns") in rollout.preflight(schema, fk)
