"""verify's behaviour probes on shapes nobody here wrote the product for: each probe touches one row
by its whole key, and whatever else PostgreSQL refuses is 'not exercised', never a crash."""

import psycopg
import pytest

from fkguard import verify
from fkguard.stack.options import Options
from fkguard_testing.fixtures import local_env, pg_script
from tests.shapes import BOOKS_CATALOG, BOOKS_SCHEMA, BOOKS_SQL, catalog, drop, snapshot

CATALOG = catalog(BOOKS_CATALOG)


@pytest.fixture()
def books(conn):
    conn.execute(BOOKS_SQL)
    yield conn
    drop(conn, BOOKS_SCHEMA)


def checks_of(conn) -> dict[str, verify.VerifyCheck]:
    with conn.transaction(force_rollback=True):
        return {c.name: c for c in verify.behaviours(conn, CATALOG)}


def test_every_probe_on_link_partitioned_deferred_and_checked_tables_says_what_it_found(books):
    before = snapshot(books, BOOKS_SCHEMA)
    found = {name: (c.ok, c.detail) for name, c in checks_of(books).items()}
    refused = (True, "a write pointing at a missing parent is refused")
    assert found["ba_author: missing parent refused"] == refused  # the link table: one row, not three
    assert found["ba_book: missing parent refused"] == refused  # uuid: a random one
    assert found["ba_book: CASCADE delete"] == (True, "the children went with their parent")
    # The deferred composite key fires inside the probe, because verify sets its constraints immediate.
    assert found["NoteEdition: missing parent refused"] == refused
    assert found["NoteEdition: NO ACTION delete refused"] == (True, "deleting a parent in use is refused")
    # Moving an edition's key is refused by the notes that point at it before edition_book is asked.
    assert found["edition_book: missing parent refused"] == (True, "not exercised: NoteEdition refused first")
    assert found["edition_book: CASCADE delete"] == (
        True, "not exercised: the parent is also held by another key (NoteEdition)")
    assert found["event_author: missing parent refused"] == refused  # a partitioned table without a primary key
    assert found["event_code: missing parent refused"] == refused  # varchar(3): three random characters
    assert found["event_code: CASCADE delete"] == (True, "the children went with their parent")
    assert found["event_day: missing parent refused"] == (
        True, "not exercised: no value of type date is known to have no parent")
    assert found["event_day: NO ACTION delete refused"] == (True, "deleting a parent in use is refused")
    ok, detail = found["review_author: missing parent refused"]
    assert ok and detail.startswith('not exercised: new row for relation "review" violates check constraint')
    # On every version, 18 included (which reports RESTRICT's refusal with an SQLSTATE of its own).
    assert found["ba_author: RESTRICT delete refused"] == (True, "deleting a parent in use is refused")
    assert found["review_author: NO ACTION delete refused"] == (True, "not exercised: ba_author refused first")
    assert len(found) == 16  # two probes for each of the eight keys
    assert snapshot(books, BOOKS_SCHEMA) == before


def test_a_deferred_key_left_deferred_would_let_the_probes_through(books):
    # What SET CONSTRAINTS ALL IMMEDIATE is for: without it the same writes go through until commit.
    with books.transaction(force_rollback=True):
        books.execute('UPDATE "VerifyShapes"."EditionNote" SET "EditionNo" = 99')
        books.execute("DELETE FROM \"VerifyShapes\".edition")
    with books.transaction(force_rollback=True):
        books.execute("SET CONSTRAINTS ALL IMMEDIATE")
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="NoteEdition"):
            books.execute('UPDATE "VerifyShapes"."EditionNote" SET "EditionNo" = 99')


def test_a_missing_parent_that_gets_through_is_a_failure(books):
    # The constraint is there but its checks are off (a superuser disabled the table's triggers).
    database = local_env()["FKGUARD_PG_DB"]
    pg_script("psql", "-d", database, "-c", 'ALTER TABLE "VerifyShapes".book_author DISABLE TRIGGER ALL')
    try:
        checks = checks_of(books)
    finally:
        pg_script("psql", "-d", database, "-c", 'ALTER TABLE "VerifyShapes".book_author ENABLE TRIGGER ALL')
    assert checks["ba_author: missing parent refused"] == verify.VerifyCheck(
        "ba_author: missing parent refused", False, "a write pointing at a missing parent went through")
    assert checks["ba_author: RESTRICT delete refused"].ok  # the parent's side still holds


def test_verify_rolls_everything_back(books):
    before = snapshot(books, BOOKS_SCHEMA)
    summary, checks = verify.verify(books, CATALOG, Options())
    assert snapshot(books, BOOKS_SCHEMA) == before
    assert summary["orphans"] == 0
    assert [c.name for c in checks if not c.ok] == []
