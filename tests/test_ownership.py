"""Which stack a key belongs to (fkguard.ownership), through the provider against the real test database: the
COMMENT written in the ADD's transaction, and a second stack of the same database refused at check, create and
delete in one line, where before it would have adopted the key silently and dropped it in its rollback."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from fkguard import ownership
from fkguard.catalog import ForeignKey, QualifiedName
from fkguard.ownership import OwnedElsewhere
from fkguard.resource_properties import inputs_of

FK = ForeignKey("fk_c_p", "high", QualifiedName("own", "c"), ("p_id",), QualifiedName("own", "p"), ("id",),
                on_delete="RESTRICT")
ADD = ('ALTER TABLE "own"."c" ADD CONSTRAINT "fk_c_p" FOREIGN KEY ("p_id") REFERENCES "own"."p" ("id") '
       'ON DELETE RESTRICT NOT VALID')
REFUSED = ("{what} fk_c_p: own.c fk_c_p was added by stack 'qa-a' (its COMMENT says so), and two stacks must not own "
           "one key: leave it out of stack 'qa-b' (fkguard:schemas, fkguard:tiers), or roll it back from stack 'qa-a' "
           "first")


@pytest.fixture()
def own(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    conn.autocommit = True
    conn.execute("DROP SCHEMA IF EXISTS own CASCADE; CREATE SCHEMA own; CREATE TABLE own.p (id int PRIMARY KEY); "
                 "CREATE TABLE own.c (id int PRIMARY KEY, p_id int); INSERT INTO own.p VALUES (1); "
                 "INSERT INTO own.c VALUES (1, 1)")
    yield conn
    conn.execute("DROP SCHEMA own CASCADE")


def props(stack: str | None) -> dict:
    return {**inputs_of(FK, False), **({"stack": stack} if stack else {})}


def comment(conn: psycopg.Connection) -> str | None:
    return ownership.comment(conn, FK)[1]


def test_the_stack_that_adds_a_key_is_named_in_its_comment_and_the_plan_says_so(provider, own):
    planned = provider.check({}, props("qa-a")).inputs["plannedSql"]
    assert planned[1] == ("COMMENT ON CONSTRAINT \"fk_c_p\" ON \"own\".\"c\" IS 'fkguard: added by stack qa-a';  -- in "
                          "the same transaction: the stack that owns the key")
    created = provider.create(props("qa-a"))
    assert created.outs["sql"] == [ADD, planned[1].split(";  --")[0]]
    assert (comment(own), ownership.owner(own, FK)) == ("fkguard: added by stack qa-a", "qa-a")
    again = provider.create(props("qa-a"))  # a crash's re-run adopts its own key, as before
    assert again.outs["sql"] == ["-- adopted the existing constraint fk_c_p, which matches"]


def test_a_second_stack_is_refused_at_check_create_and_delete(provider, own):
    provider.create(props("qa-a"))
    failures = provider.check({}, props("qa-b")).failures
    assert [(f.property, f.reason) for f in failures] == [("constraintName", REFUSED.format(what="checking"))]
    assert provider.check(props("qa-a"), props("qa-b")).failures == []  # already in qa-b's state: not asked again
    with pytest.raises(OwnedElsewhere) as refused:
        provider.create(props("qa-b"))
    assert str(refused.value) == REFUSED.format(what="adding")
    with pytest.raises(OwnedElsewhere) as refused:
        provider.delete("own.c/fk_c_p", props("qa-b"))
    assert str(refused.value) == REFUSED.format(what="dropping")
    assert ownership.owner(own, FK) == "qa-a"  # still there, still qa-a's
    provider.delete("own.c/fk_c_p", props("qa-a"))
    assert ownership.comment(own, FK) == (False, None)


def test_an_unmarked_key_is_marked_by_the_stack_that_adopts_it_and_a_teams_comment_stays(provider, own):
    own.execute(ADD)  # by hand, or by an fkguard from before the mark
    adopted = provider.create(props("qa-b"))
    assert adopted.outs["sql"][1] == "COMMENT ON CONSTRAINT \"fk_c_p\" ON \"own\".\"c\" IS 'fkguard: added by stack qa-b'"
    assert ownership.owner(own, FK) == "qa-b"
    own.execute("COMMENT ON CONSTRAINT fk_c_p ON own.c IS 'the billing team''s: ask #billing'")
    assert provider.create(props("qa-a")).outs["sql"] == ["-- adopted the existing constraint fk_c_p, which matches"]
    assert (comment(own), ownership.owner(own, FK)) == ("the billing team's: ask #billing", None)


def test_without_a_stack_nothing_is_marked(provider, own):
    assert provider.create(props(None)).outs["sql"] == [ADD]
    assert comment(own) is None
