"""Bad input, one table: each row is a catalog entry or stack setting a user might get wrong, run
through `pulumi preview` with the policy pack. Every refusal is one line naming the object and the
fix, with nothing applied; every valid-but-unusual name (mixed case, quotes, spaces, another
schema, characters that look like SQL) must work, through `pulumi up`, and harm nothing."""

import pytest
import yaml

from fkguard.apms.generate import generate
from fkguard_testing.fixtures import as_superuser

OK = "works"
BASE = {"name": "fk_bi_instances_workspace", "tier": "critical", "table": "public.workflow_instances",
        "columns": ["workspace_id"], "references": "public.workspaces", "referenced_columns": ["id"],
        "on_delete": "RESTRICT"}

# (case, change to the catalog entry, stack settings, expected: a fragment of the one-line error, or OK)
CASES = [
    ("nonexistent table", {"table": "public.nope"}, {},
     "table public.nope does not exist; create it first or fix the name"),
    ("nonexistent schema", {"table": "ghost.workflow_instances"}, {},
     "table ghost.workflow_instances does not exist (schema 'ghost' does not exist either)"),
    ("nonexistent column", {"columns": ["nope_id"]}, {},
     "column 'nope_id' does not exist in public.workflow_instances; fix the column name"),
    ("nonexistent referenced table", {"references": "public.nope_parent"}, {},
     "table public.nope_parent does not exist; create it first or fix the name"),
    ("type mismatch", {"table": "public.bi_int_child"}, {},
     "public.bi_int_child.workspace_id is integer but public.workspaces.id is text: PostgreSQL refuses it"),
    ("referenced columns without a unique key", {"referenced_columns": ["name"]}, {},
     "public.workspaces (name) has no primary key or unique constraint"),
    # PostgreSQL 15 refuses NOT VALID on a partitioned table: fkguard adds it on each partition instead
    ("partitioned table", {"table": "public.bi_parted"}, {}, OK),
    ("name over 63 bytes", {"name": "fk_" + "é" * 31}, {},
     "is 65 bytes; PostgreSQL keeps only 63 and would cut it silently: shorten it"),
    ("empty column list", {"columns": []}, {}, "'columns' must be a non-empty list of column names"),
    ("unequal column lists", {"referenced_columns": ["id", "code"]}, {},
     "1 columns reference 2 columns; give one referenced column per column"),
    ("unknown action", {"on_delete": "EXPLODE"}, {},
     "on_delete 'EXPLODE' is not one of NO ACTION, RESTRICT, CASCADE, SET NULL, SET DEFAULT"),
    ("unknown match", {"match": "PARTIAL"}, {}, "match 'PARTIAL' is not one of SIMPLE, FULL"),
    ("SET NULL on a NOT NULL column", {"on_delete": "SET NULL"}, {},
     "ON DELETE SET NULL on public.workflow_instances.workspace_id, which is NOT NULL: every such delete would fail"),
    ("injection in table", {"table": "public.workflow_instances; DROP TABLE workspaces; --"}, {},
     "table public.workflow_instances; DROP TABLE workspaces; -- does not exist"),
    ("injection in columns", {"columns": ["workspace_id); DROP TABLE workspaces; --"]}, {},
     "column 'workspace_id); DROP TABLE workspaces; --' does not exist in public.workflow_instances"),
    ("injection in references", {"references": "public.workspaces(id); DROP TABLE workspaces"}, {},
     "table public.workspaces(id); DROP TABLE workspaces does not exist"),
    ("injection in referenced columns", {"referenced_columns": ["id) ON DELETE CASCADE; --"]}, {},
     "column 'id) ON DELETE CASCADE; --' does not exist in public.workspaces"),
    ("injection in on_delete", {"on_delete": "CASCADE; DROP TABLE workspaces"}, {},
     "on_delete 'CASCADE; DROP TABLE workspaces' is not one of"),
    ("injection in the name is only a name", {"name": 'fk_x"; DROP TABLE workspaces; --'}, {}, OK),
    ("mixed-case names", {"name": "FK_Mixed_Case", "table": "public.MixedCase", "columns": ["WorkspaceId"]}, {}, OK),
    ("quoted names and another schema", {"name": "fk with spaces", "table": "Other Schema.Child Table",
                                         "columns": ["Parent Ref"], "references": 'Other Schema.Parent "Q" Table',
                                         "referenced_columns": ["Id"]}, {}, OK),
    ("the database down", {}, {"postgresql:port": "1"}, "cannot connect to fkguard@127.0.0.1:1/apms"),
    ("wrong password", {}, {"secret:postgresql:password": "not-the-password"},
     'password authentication failed for user "fkguard"'),
    ("missing privileges", {}, {"postgresql:username": "bi_stranger", "secret:postgresql:password": "bi-stranger-pw"},
     "user bi_stranger does not own public.workflow_instances, and ALTER TABLE needs its owner"),
    ("a missing catalog file", {}, {"fkguard:catalog": "nope.yaml"},
     "catalog file nope.yaml does not exist; fix the fkguard:catalog setting"),
    ("a malformed catalog file", {"malformed": True}, {}, "catalog.yaml is not valid YAML at line 1; fix its syntax"),
    ("a misspelled fkguard key", {}, {"fkguard:validateTier": "critical"},
     "unknown config key fkguard:validateTier in stack 'local': did you mean fkguard:validateTiers?"),
    ("a misspelled postgresql key", {}, {"postgresql:hostname": "db"},
     "unknown config key postgresql:hostname in the stack: did you mean postgresql:host?"),
    ("an unknown tier", {}, {"fkguard:addTiers": "critical,urgent"},
     "fkguard:addTiers: unknown tier 'urgent'; use critical, high, medium, low, all or none"),
    ("validating a tier that is not added", {}, {"fkguard:addTiers": "none", "fkguard:validateTiers": "critical"},
     "fkguard:validateTiers names critical but fkguard:addTiers does not: a constraint must exist to be validated"),
]

SETUP = """
DROP TABLE IF EXISTS bi_int_child, bi_parted, "MixedCase";
DROP SCHEMA IF EXISTS "Other Schema" CASCADE;
CREATE TABLE bi_int_child (id text PRIMARY KEY, workspace_id integer);
CREATE TABLE bi_parted (id text, workspace_id text) PARTITION BY LIST (id);
CREATE TABLE bi_parted_a PARTITION OF bi_parted FOR VALUES IN ('a');
CREATE TABLE "MixedCase" ("Id" text PRIMARY KEY, "WorkspaceId" text);
CREATE SCHEMA "Other Schema";
CREATE TABLE "Other Schema"."Parent ""Q"" Table" ("Id" text PRIMARY KEY);
CREATE TABLE "Other Schema"."Child Table" (id text PRIMARY KEY, "Parent Ref" text);
"""


@pytest.fixture()
def setup(project, conn):
    generate(conn, 200, {}, progress=lambda _: None)
    conn.execute(SETUP)
    as_superuser("DROP ROLE IF EXISTS bi_stranger; CREATE ROLE bi_stranger LOGIN PASSWORD 'bi-stranger-pw'")
    yield project
    conn.execute('DROP TABLE IF EXISTS bi_int_child, bi_parted, "MixedCase"; DROP SCHEMA "Other Schema" CASCADE')
    as_superuser("DROP ROLE bi_stranger")


def foreign_keys(conn) -> set[str]:
    return {r[0] for r in conn.execute("SELECT conname FROM pg_constraint WHERE contype = 'f'")}


@pytest.mark.parametrize("case, change, settings, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input(setup, conn, case, change, settings, expected):
    project = setup
    entry = {**BASE, **{k: v for k, v in change.items() if k != "malformed"}}
    text = "constraints: [" if change.get("malformed") else yaml.safe_dump({"constraints": [entry]})
    (project.root / "catalog.yaml").write_text(text)
    project.run("config", "set", "fkguard:catalog", "catalog.yaml", "--stack", "local")
    for key, value in settings.items():
        secret = key.startswith("secret:")
        project.run("config", "set", key.removeprefix("secret:"), value, *(["--secret"] if secret else []),
                    "--stack", "local")

    preview = project.gated("preview", check=False)
    output = preview.stdout + preview.stderr
    if expected is OK:
        assert preview.returncode == 0, output
        project.gated("up", "--yes")
        assert entry["name"] in foreign_keys(conn)
        assert conn.execute("SELECT to_regclass('public.workspaces')").fetchone()[0] is not None
        return
    assert preview.returncode != 0, output
    lines = [line for line in output.splitlines() if expected in line]
    assert lines, output
    assert "Traceback" not in output and "bi-stranger-pw" not in output and "not-the-password" not in output
    assert foreign_keys(conn) == set()  # nothing applied
    assert conn.execute("SELECT to_regclass('public.workspaces')").fetchone()[0] is not None


def test_the_matrix_has_at_least_25_cases():
    assert len(CASES) >= 25
    assert len({c[0] for c in CASES}) == len(CASES)
