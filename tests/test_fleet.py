"""`fkguard fleet` without the CLI: the fleet file, which stacks each wave takes, the counts read from the
engine's events, and the scheduler (waves in order, a bounded number at a time, the first failure stopping
what has not started) with a stand-in for the pulumi run."""

import threading
import time
import uuid
from pathlib import Path

import pytest
from pulumi.automation import EngineEvent

from fkguard import cli, fleet, fleet_stack, policy_findings
from fkguard.fleet_stack import FleetError, StackResult, Tally
from fkguard.resource_properties import RESOURCE_TYPE
from fkguard.stack import secrets as stack_secrets


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    return path


def test_the_file_gives_waves_in_order_with_their_bounds(tmp_path):
    waves = fleet.load(write(tmp_path, """
parallel: 3
waves:
  - name: canary
    stacks: tenant-1
    parallel: 1
  - stacks: ["tenant-*", other]
"""))
    assert waves == [fleet.Wave("canary", ("tenant-1",), 1), fleet.Wave("wave-2", ("tenant-*", "other"), 3)]


@pytest.mark.parametrize(("text", "message"), [
    ("waves: []", "expected a mapping with a list of waves"),
    ("paralel: 2\nwaves: [{stacks: [a]}]", "unknown key 'paralel': did you mean 'parallel'?"),
    ("waves: [{stacks: [a], parallel: 0}]", "wave 1: parallel must be a whole number of stacks, 1 or more, got 0"),
    ("waves: [{stacks: [a], parallel: true}]", "parallel must be a whole number of stacks, 1 or more, got True"),
    ("waves: [{name: x, stacks: []}]", "wave 1 (x): stacks must be a list of stack names or patterns, got []"),
    ("waves: [{name: x, stack: [a]}]", "wave 1: unknown key 'stack': did you mean 'stacks'?"),
    ("waves: [{name: x, stacks: [a]}, {name: x, stacks: [b]}]", "wave 2: a wave named 'x' comes earlier already"),
    ("waves: [a, b]", "wave 1: expected a mapping with name and stacks, got 'a'"),
    ("waves: [{stacks: [a]]", "is not valid YAML"),
])
def test_a_file_that_is_not_clear_is_refused_in_one_line(tmp_path, text, message):
    with pytest.raises(FleetError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]").replace("?", r"\?")) as refused:
        fleet.load(write(tmp_path, text))
    assert "\n" not in str(refused.value)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(FleetError, match="cannot read the fleet file .*nope.yaml: No such file or directory"):
        fleet.load(tmp_path / "nope.yaml")


STACKS = ["local", "tenant-eu-1", "tenant-eu-2", "tenant-us-1", "staging"]


def test_patterns_match_pulumi_stack_ls_less_the_earlier_waves():
    waves = [fleet.Wave("canary", ("tenant-eu-2",), 1), fleet.Wave("eu", ("tenant-eu-*",), 2),
             fleet.Wave("rest", ("tenant-*", "staging"), 2)]
    plan = fleet.resolve(waves, STACKS)
    assert [(w.name, stacks) for w, stacks in plan] == [
        ("canary", ["tenant-eu-2"]), ("eu", ["tenant-eu-1"]), ("rest", ["tenant-us-1", "staging"])]


def test_org_qualified_names_match_by_their_short_name():
    plan = fleet.resolve([fleet.Wave("all", ("tenant-eu-1", "tenant-us-*"), 1)],
                         ["acme/fkguard/tenant-eu-1", "acme/fkguard/tenant-us-1"])
    assert plan[0][1] == ["acme/fkguard/tenant-eu-1", "acme/fkguard/tenant-us-1"]


@pytest.mark.parametrize(("waves", "message"), [
    ([("a", ("tenant-eu-3",))], "wave a: no stack named 'tenant-eu-3'; did you mean 'tenant-eu-2'?"),
    ([("a", ("prod",))], "wave a: no stack named 'prod'; pulumi stack ls lists the stacks, fkguard init creates one"),
    ([("a", ("tenant-eu-1",)), ("b", ("tenant-eu-1",))], "wave b: stack 'tenant-eu-1' is in wave a already"),
    ([("a", ("tenant-eu-1", "tenant-eu-1"))], "wave a: stack 'tenant-eu-1' is in wave a already"),
    ([("a", ("tenant-*",)), ("b", ("tenant-eu-*",))], "wave b: 'tenant-eu-*' matches no stack that an earlier wave "
                                                     "did not take (pulumi stack ls lists 5); fix the pattern"),
])
def test_a_stack_missing_or_named_twice_is_refused_before_anything_runs(waves, message):
    with pytest.raises(FleetError) as refused:
        fleet.resolve([fleet.Wave(name, stacks, 1) for name, stacks in waves], STACKS)
    assert str(refused.value).startswith(message)


def event(**payload) -> EngineEvent:
    return EngineEvent.from_json({"sequence": 1, "timestamp": 0, **payload})


def step(op: str, old: dict | None, new: dict | None, type_: str = RESOURCE_TYPE) -> dict:
    return {"metadata": {"op": op, "urn": f"urn:pulumi:s::fkguard::{type_}::fk", "type": type_, "provider": "",
                         **({"old": old} if old else {}), **({"new": new} if new else {})}}


def test_an_update_counts_the_steps_done_from_their_outputs():
    tally = Tally()
    on_event = tally.listener("up", counted=True)
    on_event(event(resOutputsEvent=step("create", None, {"outputs": {"state": "not valid"}})))
    on_event(event(resOutputsEvent=step("create", None, {"outputs": {"state": "validated"}})))
    on_event(event(resOutputsEvent=step("update", {"outputs": {"state": "not valid"}}, {"outputs": {"state": "validated"}})))
    on_event(event(resOutputsEvent=step("same", {"outputs": {"state": "validated"}}, {"outputs": {"state": "validated"}})))
    on_event(event(resOutputsEvent=step("create", None, {"outputs": {}}, type_="fkguard:index:SupportingIndex")))
    on_event(event(resourcePreEvent=step("create", None, {"inputs": {"validated": True}})))  # planned, not done
    assert (tally.added, tally.validated) == (2, 2)


def test_a_preview_counts_the_steps_it_plans_and_an_uncounted_phase_nothing():
    tally = Tally()
    tally.listener("preview", counted=True)(event(resourcePreEvent=step("create", None, {"inputs": {"validated": True}})))
    tally.listener("preview", counted=True)(event(resourcePreEvent=step(
        "update", {"outputs": {"convalidated": False}}, {"inputs": {"validated": True}})))
    tally.listener("preview", counted=True)(event(resourcePreEvent=step(
        "update", {"outputs": {"convalidated": True}}, {"inputs": {"validated": True, "deferrable": True}})))
    tally.listener("preview", counted=False)(event(resourcePreEvent=step("create", None, {"inputs": {}})))
    assert (tally.added, tally.validated) == (1, 2)


def test_mandatory_violations_are_the_refusal_and_orphans_are_read_from_the_gates_recorded_data(tmp_path):
    tally = Tally()
    on_event = tally.listener("preview", counted=False)
    urn, other = "urn:pulumi:s::fkguard::t::fk_a", "urn:pulumi:s::fkguard::t::fk_b"
    # The message is prose for people: the rows come from the data the pack recorded, whatever it says.
    on_event(event(policyEvent={"policyName": "orphan-gate", "enforcementLevel": "mandatory", "resourceUrn": urn,
                                "message": "fk_a: some rows have no parent\nFix: x"}))
    on_event(event(policyEvent={"policyName": "orphan-gate", "enforcementLevel": "mandatory", "resourceUrn": other,
                                "message": "m"}))
    on_event(event(policyEvent={"policyName": "safe-pattern", "enforcementLevel": "advisory", "message": "m"}))
    assert (tally.orphans, tally.refusal()) == ({"fk_a": None, "fk_b": None}, "the policy pack refused it: orphan-gate (2)")
    recorded = tmp_path / "findings.jsonl"
    policy_findings.record("orphan-gate", urn, {"rows": 12, "sample": [["7"]]}, {policy_findings.ENV: str(recorded)})
    policy_findings.record("safe-pattern", other, {"rows": 5}, {policy_findings.ENV: str(recorded)})
    tally.take(policy_findings.read(recorded))
    assert tally.orphans == {"fk_a": 12, "fk_b": None}  # fk_b's violation came without a record: unknown, not 0
    on_event(event(policyEvent={"policyName": "tier-order", "enforcementLevel": "mandatory", "message": "m"}))
    assert tally.refusal() == "the policy pack refused it: orphan-gate (2), tier-order (1)"


def test_the_packs_findings_are_recorded_only_where_asked(tmp_path):
    policy_findings.record("orphan-gate", "urn", {"rows": 1}, {})  # no variable: a plain pulumi up writes nothing
    assert policy_findings.read(tmp_path / "none.jsonl") == []
    path = tmp_path / "findings.jsonl"
    policy_findings.record("orphan-gate", "urn:a", {"rows": 3, "sample": [[uuid.UUID(int=1)]]}, {policy_findings.ENV: str(path)})
    assert policy_findings.read(path) == [policy_findings.RecordedFinding(
        "orphan-gate", "urn:a", {"rows": 3, "sample": [["00000000-0000-0000-0000-000000000001"]]})]


def test_the_gate_is_the_pack_with_the_stacks_own_policy_config(tmp_path):
    (tmp_path / "policy-config.tenant-1.json").write_text("{}")
    assert fleet_stack.gate("acme/fkguard/tenant-1", tmp_path) == (
        [str(tmp_path / "policies")], [str(tmp_path / "policy-config.tenant-1.json")])
    with pytest.raises(FleetError, match="stack 'tenant-2' has no policy-config.tenant-2.json in .*: fkguard init "
                                         "writes one; or copy policy-config.staging.json to it"):
        fleet_stack.gate("tenant-2", tmp_path)


class Fake:
    """The per-stack run, scripted: how long each stack takes and whether it fails; when each ran."""

    def __init__(self, seconds: dict[str, float], failing: set[str]) -> None:
        self.seconds, self.failing = seconds, failing
        self.spans: dict[str, tuple[float, float]] = {}
        self.running = self.most = 0
        self.lock = threading.Lock()

    def run(self, result: StackResult, command: str, project_dir: Path, log: Path) -> StackResult:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        start = time.monotonic()
        time.sleep(self.seconds.get(result.stack, 0.05))
        with self.lock:
            self.running -= 1
        self.spans[result.stack] = (start, time.monotonic())
        result.result = "failed" if result.stack in self.failing else "ok"
        result.error = "refused" if result.stack in self.failing else None
        result.seconds = 0.0
        return result


class Context:
    def __init__(self, stack: str) -> None:
        self.connection = type("C", (), {"describe": lambda _: f"u@h:5432/{stack}"})()


@pytest.fixture()
def fake(monkeypatch):
    def make(seconds: dict[str, float], failing: set[str]) -> Fake:
        scripted = Fake(seconds, failing)
        monkeypatch.setattr(fleet, "run", scripted.run)
        monkeypatch.setattr(fleet, "preflight", lambda stacks, *_: {s: Context(s) for s in stacks})
        return scripted
    return make


PLAN = [(fleet.Wave("canary", (), 1), ["s1"]), (fleet.Wave("early", (), 2), ["s2", "s3", "s4", "s5"]),
        (fleet.Wave("rest", (), 3), ["s6", "s7", "s8"])]


def test_the_first_failure_stops_what_has_not_started_and_running_stacks_finish(fake, tmp_path):
    scripted = fake({"s2": 0.1, "s3": 0.4}, {"s2"})
    outcome = fleet.roll(PLAN, "up", tmp_path, tmp_path / "logs")
    assert {r.stack: r.result for r in outcome.results} == {
        "s1": "ok", "s2": "failed", "s3": "ok", "s4": "not started", "s5": "not started",
        "s6": "not started", "s7": "not started", "s8": "not started"}
    assert not outcome.ok
    assert outcome.results[1].database == "u@h:5432/s2"
    assert set(scripted.spans) == {"s1", "s2", "s3"}
    assert fleet.verdict(outcome).startswith("fleet up: 2 ok, 1 failed, 5 not started of 8 stacks in ")


def test_a_wave_starts_after_the_last_stack_of_the_one_before_and_runs_a_bounded_number_at_a_time(fake, tmp_path):
    scripted = fake({"s1": 0.2, "s6": 0.1, "s7": 0.1, "s8": 0.1}, set())
    outcome = fleet.roll(PLAN, "up", tmp_path, tmp_path / "logs")
    assert outcome.ok
    waves = [["s1"], ["s2", "s3", "s4", "s5"], ["s6", "s7", "s8"]]
    for before, after in zip(waves, waves[1:], strict=False):
        assert max(scripted.spans[s][1] for s in before) <= min(scripted.spans[s][0] for s in after)
    assert scripted.most == 3  # the last wave's bound

    scripted = fake({}, set())
    fleet.roll(PLAN, "up", tmp_path, tmp_path / "logs", parallel=1)
    assert scripted.most == 1


def test_the_summary_table_says_what_a_preview_would_do(tmp_path):
    results = [StackResult("s1", "canary", "u@h:1/a", "ok", 3, 3, {}, 1.25),
               StackResult("s2", "early", "u@h:1/b", "failed", 0, 0, {"fk_a": 2, "fk_b": None}, 0.5, "refused")]
    headers, rows = fleet.table(fleet.FleetOutcome("preview", results, 2.0, tmp_path))
    assert headers == ["wave", "stack", "database", "result", "to add", "to validate", "orphans blocking", "seconds",
                       "error"]
    assert rows[1] == ["early", "s2", "u@h:1/b", "failed", 0, 0, "fk_a 2, fk_b ?", "0.5", "refused"]


def test_a_real_stack_with_the_public_passphrase_is_refused_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.setenv(stack_secrets.PASSPHRASE, stack_secrets.public_passphrase())
    (tmp_path / "policy-config.tenant-1.json").write_text("{}")
    with pytest.raises(FleetError, match=r"^stack 'tenant-1' must not use the local stack's public passphrase.*; "
                                         r"nothing ran$"):
        fleet.preflight(["tenant-1"], tmp_path, 1, "up")


def test_the_command_refuses_a_bad_file_or_bound_in_one_line(tmp_path, capsys):
    assert cli.main(["fleet", "up", "-f", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err.strip().startswith("fkguard fleet: cannot read the fleet file ")
    assert cli.main(["fleet", "up", "-f", str(write(tmp_path, "waves: [{stacks: [a]}]")), "--parallel", "0"]) == 2
    assert capsys.readouterr().err.strip() == ("fkguard fleet: --parallel: parallel must be a whole number of stacks, "
                                               "1 or more, got 0")


def test_a_bug_in_one_stack_fails_that_stack_with_its_traceback_in_its_log(fake, monkeypatch, tmp_path):
    fake({}, set())

    def broken(result, *_):
        raise RuntimeError("surprise")
    monkeypatch.setattr(fleet, "run", broken)
    outcome = fleet.roll(PLAN, "up", tmp_path, tmp_path / "logs")
    assert [(r.stack, r.result, r.error) for r in outcome.results[:2]] == [
        ("s1", "failed", "RuntimeError: surprise"), ("s2", "not started", None)]
    assert "Traceback" in (tmp_path / "logs" / "s1.log").read_text()
