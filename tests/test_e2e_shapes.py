"""The three defects met on public sample schemas, each through the fkguard command on a schema of
our own shaped like the one that broke it, with a catalog of its own set in the stack's config."""

import json

import pytest

from tests import shapes
from tests.shapes import drop, snapshot


@pytest.fixture()
def shaped(project, conn):
    """Build a schema and point the stack at its catalog; the schema and its quarantine rows go afterwards."""
    made = []

    def build(schema: str, statements: str, entries: list[dict]) -> None:
        made.append(schema)
        conn.execute(statements)
        # A relative fkguard:catalog is read from the project folder, where fkguard and pulumi run.
        shapes.write_catalog(project.root / "shapes-catalog.yaml", entries)
        project.run("config", "set", "fkguard:catalog", "shapes-catalog.yaml", "--stack", "local")

    yield build
    for schema in made:
        drop(conn, schema)


def batch_of(output: str) -> str:
    return output.split("fkguard remediate: batch ", 1)[1].split(" ", 1)[0]


def test_verify_reports_every_probe_on_link_partitioned_and_deferred_tables(project, conn, shaped):
    shaped(shapes.BOOKS_SCHEMA, shapes.BOOKS_SQL, shapes.BOOKS_CATALOG)
    before = snapshot(conn, shapes.BOOKS_SCHEMA)
    result = project.fkguard("verify", "-s", "local", "--json", check=False)
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert (result.returncode, report["ok"], report["orphans"]) == (0, True, 0)
    details = {c["name"]: c["detail"] for c in report["checks"]}
    assert details["ba_author: missing parent refused"] == "a write pointing at a missing parent is refused"
    assert details["NoteEdition: NO ACTION delete refused"] == "deleting a parent in use is refused"
    assert details["event_author: missing parent refused"] == "a write pointing at a missing parent is refused"
    assert details["review_author: missing parent refused"].startswith("not exercised: new row for relation")
    assert snapshot(conn, shapes.BOOKS_SCHEMA) == before
    table = project.fkguard("verify", "-s", "local")
    assert f"local: {len(report['checks'])} of {len(report['checks'])} checks passed" in table.stdout


def test_undo_on_identity_and_generated_columns_puts_rows_back_or_says_why_not(project, conn, shaped):
    shaped(shapes.READINGS_SCHEMA, shapes.READINGS_SQL, shapes.READINGS_CATALOG)
    before = snapshot(conn, shapes.READINGS_SCHEMA)
    removed = project.fkguard("remediate", "-s", "local", "--all", "--action", "delete", "--yes")
    assert "re-audit: no orphans left in the 2 relationships" in removed.stdout
    batch = batch_of(removed.stdout)
    undone = project.fkguard("remediate", "-s", "local", "--undo", batch, "--yes")
    assert f"put back 10 rows of batch {batch}" in undone.stdout
    assert snapshot(conn, shapes.READINGS_SCHEMA) == before

    batch = batch_of(project.fkguard("remediate", "-s", "local", "--constraint", "reading_site", "--action", "delete",
                                     "--yes").stdout)
    conn.execute('INSERT INTO "UndoShapes"."Reading" (reading_id, site_id, celsius) OVERRIDING SYSTEM VALUE '
                 "VALUES (4, 1, 0)")  # reading 4 was at site 5: quarantined
    refused = project.fkguard("remediate", "-s", "local", "--undo", batch, "--yes", check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"fkguard remediate: batch {batch} was not put back and stays in quarantine: PostgreSQL refused the rows of "
        f'UndoShapes.Reading (duplicate key value violates unique constraint "Reading_pkey" (Key (reading_id)=(4) '
        f"already exists.)); fix that, then run --undo {batch} again"]
    listed = project.fkguard("remediate", "-s", "local", "--list").stdout
    assert [line.rstrip().endswith("yes") for line in listed.splitlines() if line.startswith(batch)] == [False]
    conn.execute('DELETE FROM "UndoShapes"."Reading" WHERE reading_id = 4')
    project.fkguard("remediate", "-s", "local", "--undo", batch, "--yes")
    assert snapshot(conn, shapes.READINGS_SCHEMA) == before


def test_a_delete_that_would_orphan_a_catalog_relationship_is_refused_before_anything_changes(project, conn, shaped):
    shaped(shapes.FAMILY_SCHEMA, shapes.FAMILY_SQL, shapes.FAMILY_CATALOG)
    before = snapshot(conn, shapes.FAMILY_SCHEMA)
    for which in (["--all"], ["--constraint", "parent_grandparent"]):
        refused = project.fkguard("remediate", "-s", "local", *which, "--action", "delete", "--yes", check=False)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        [line] = refused.stderr.strip().splitlines()
        assert line.startswith("fkguard remediate: parent_grandparent: deleting its 2 orphan rows of "
                               "family_shapes.parent would orphan 3 rows of family_shapes.child through child_parent")
        assert ("With --all, remediate the referencing rows first" in line) == (which == ["--all"])
        assert snapshot(conn, shapes.FAMILY_SCHEMA) == before
    conn.execute("UPDATE family_shapes.child SET p_id = 1")
    done = project.fkguard("remediate", "-s", "local", "--all", "--action", "delete", "--yes")
    assert "parent_grandparent: 2 orphan rows of family_shapes.parent" in done.stdout
    assert "re-audit: no orphans left in the 2 relationships" in done.stdout
