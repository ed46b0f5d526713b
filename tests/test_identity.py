"""fkguard.stack.identity against the real test cluster, and the constraint provider's steps called directly:
the database a resource recorded is the one each later step must reach."""

import pytest

from fkguard.apms.generate import generate
from fkguard.catalog import load_catalog
from fkguard.resource_properties import inputs_of
from fkguard.stack import identity

FK = load_catalog()[0]


def elsewhere(now: identity.Identity, **changes) -> dict:
    return {**now.record(), **changes}


def test_the_identity_is_the_clusters_system_identifier_and_the_databases_oid(conn):
    now = identity.live(conn)
    sysid, oid = conn.execute("SELECT (SELECT system_identifier::text FROM pg_control_system()), "
                              "(SELECT oid::int FROM pg_database WHERE datname = current_database())").fetchone()
    assert now.fingerprint == f"{sysid}/{oid}"
    assert now.database == conn.info.dbname
    assert identity.Identity.from_record(now.record()) == now


def test_the_same_database_passes_and_nothing_recorded_passes(conn):
    now = identity.live(conn)
    assert identity.guard(conn, now.record(), None, stack="s", what="w") == now
    assert identity.guard(conn, None, None, stack="s", what="w") == now
    # A rename or a minor upgrade is not another database.
    assert identity.guard(conn, elsewhere(now, database="renamed", version="15.1"), None, stack="s", what="w") == now


@pytest.mark.parametrize("change", [{"oid": 1}, {"systemIdentifier": "42"}])
def test_another_database_or_cluster_is_refused_in_one_line_naming_both_and_the_rebind(conn, change):
    now = identity.live(conn)
    recorded = elsewhere(now, database="staging_db", **change)
    with pytest.raises(identity.IdentityMismatch) as refused:
        identity.guard(conn, recorded, None, stack="staging", what="checking fk_x")
    before = identity.Identity.from_record(recorded)
    assert str(refused.value) == (
        f"checking fk_x: stack staging was deployed to {before.describe()}, but its postgresql:* settings now reach "
        f"{now.describe()}; refusing to change another database. Fix the settings, or to move the stack on purpose: "
        f"pulumi config set fkguard:rebindDatabase {now.fingerprint} -s staging")
    assert "\n" not in str(refused.value)


def test_a_rebind_passes_only_for_the_database_it_names(conn):
    now = identity.live(conn)
    recorded = elsewhere(now, oid=1)
    assert identity.guard(conn, recorded, now.fingerprint, stack="s", what="w") == now
    with pytest.raises(identity.IdentityMismatch, match=f"fkguard:rebindDatabase names 9/9, but stack s's "
                                                         f"postgresql:\\* settings reach .*; set it to {now.fingerprint}"):
        identity.guard(conn, now.record(), "9/9", stack="s", what="w")


def test_what_a_state_must_record():
    a = {identity.PROPERTY: {"systemIdentifier": "1", "oid": 5}}
    b = {identity.PROPERTY: {"systemIdentifier": "1", "oid": 6}}
    assert identity.to_record({}, a) and not identity.moved({}, a)  # created before identities were recorded
    assert identity.to_record(a, b) and identity.moved(a, b)
    assert not identity.to_record(a, a) and not identity.moved(a, a)


def test_every_step_of_the_provider_refuses_a_resource_recorded_in_another_database(provider, conn):
    generate(conn, 100, {}, progress=lambda _: None)
    created = provider.create({**inputs_of(FK, False), "stack": "local"})
    now = identity.live(conn)
    assert created.outs[identity.PROPERTY] == now.record()
    foreign = {**created.outs, identity.PROPERTY: elsewhere(now, oid=1)}
    checked = provider.check(foreign, {**inputs_of(FK, False), "stack": "local"})
    assert [f.reason.split(":")[0] for f in checked.failures] == [f"checking {FK.name}"]
    assert "stack local was deployed to" in checked.failures[0].reason
    for step, call in (("refreshing", lambda: provider.read(created.id, foreign)),
                       ("dropping", lambda: provider.delete(created.id, foreign)),
                       ("updating", lambda: provider.update(created.id, foreign, {**inputs_of(FK, True), "stack": "local",
                                                                                  identity.PROPERTY: now.record()}))):
        with pytest.raises(identity.IdentityMismatch, match=f"^{step} {FK.name}: stack local was deployed to"):
            call()
    assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conname = %s", (FK.name,)).fetchone() == (1,)
    assert not provider.diff(created.id, created.outs, {**created.outs}).changes
    provider.delete(created.id, created.outs)
    assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conname = %s", (FK.name,)).fetchone() == (0,)
