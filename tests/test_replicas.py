"""fkguard:maxReplicaLag and fkguard:maxReplicaWait as a stack sets them, and what fkguard.replicas does on a
cluster with no standby (the standby itself: tests/test_e2e_replica.py)."""

import pytest

from fkguard import replicas
from fkguard.locks import LockPolicy
from fkguard.stack.options import Options, OptionsError


def test_the_replica_keys_default_to_30s_and_10min_and_reach_every_statements_policy():
    options = Options.from_config({})
    assert (options.max_replica_lag_ms, options.max_replica_wait_ms) == (30_000, 600_000)
    assert (LockPolicy().max_replica_lag_ms, LockPolicy().max_replica_wait_ms) == (30_000, 600_000)
    policy = LockPolicy.from_options(Options.from_config({"fkguard:maxReplicaLag": "5s",
                                                          "fkguard:maxReplicaWait": "2min"}))
    assert (policy.max_replica_lag_ms, policy.max_replica_wait_ms) == (5000, 120_000)


@pytest.mark.parametrize(("value", "ms"), [("off", 0), ("OFF", 0), ("0", 0), ("none", 0), ("1500ms", 1500),
                                           ("45", 45_000), ("1min", 60_000)])
def test_max_replica_lag_is_a_duration_or_off(value, ms):
    assert Options.from_config({"fkguard:maxReplicaLag": value}).max_replica_lag_ms == ms


@pytest.mark.parametrize(("key", "value"), [("maxReplicaLag", "soon"), ("maxReplicaWait", "off"),
                                            ("maxReplicaWait", "-1s")])
def test_a_bad_replica_setting_is_named(key, value):
    with pytest.raises(OptionsError) as refused:
        Options.from_config({f"fkguard:{key}": value})
    assert str(refused.value) == f"fkguard:{key} must be a duration like 3s, 500ms or 2min, got {value!r}"
    assert refused.value.key == f"fkguard:{key}"


def test_a_misspelled_replica_key_is_refused_with_the_one_it_meant():
    with pytest.raises(OptionsError, match="maxReplicaLag"):
        Options.from_config({"fkguard:maxReplicaLagg": "5s"})


def test_without_a_standby_nothing_waits_and_monitor_says_none_streams(conn):
    said: list[str] = []
    slept: list[float] = []
    assert replicas.wait_for_standbys(conn, 1, 1000, "adding fk_x", progress=said.append, sleep=slept.append) == 0
    assert said == [] and slept == []
    replicas.check_visible(conn, 30_000)  # nothing hidden: nothing streams
    seen = replicas.replication(conn)
    assert (seen.standbys, seen.hidden) == ([], 0)
    lines = seen.lines(conn.info.user)
    assert lines[0] == "no standby streams from this database's cluster"
    assert lines[1] == "oldest transaction: none open" or lines[1].startswith("oldest transaction: pid "), lines
