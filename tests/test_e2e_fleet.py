"""`fkguard fleet` end to end: 8 databases on the test cluster, 8 stacks of one scratch project, a canary
wave then the rest. The database with orphans stops its wave, the waves after it never start, and what
each stack's state and database hold is exactly what the summary reported."""

import json
import re

import pytest

from tests import fleet_shapes as fleet

COUNT = 8
ORPHANS = {2: 2}  # test-fleet-2, first of the second wave: 2 parcels whose courier does not exist
FLEET_FILE = """
parallel: 2
waves:
  - name: canary
    stacks: [test-fleet-1]
  - name: early
    stacks: [test-fleet-2, test-fleet-3, test-fleet-4, test-fleet-5]
  - name: rest
    parallel: 3
    stacks: ["test-fleet-*"]
"""


@pytest.fixture()
def eight(project, pg):
    databases = fleet.create_databases(pg, COUNT, ORPHANS)
    stacks: list[str] = []
    try:
        stacks += fleet.add_stacks(project, COUNT)
        (project.root / "fleet.yaml").write_text(FLEET_FILE)
        yield project, dict(zip(stacks, databases, strict=True))
    finally:
        fleet.remove_stacks(project, stacks)
        fleet.drop_databases(COUNT)
    assert "test-fleet" not in project.run("stack", "ls").stdout


def test_orphans_stop_their_wave_and_every_stack_is_as_reported(eight, tmp_path):
    project, databases = eight
    before = fleet.workspace_files(project)
    assert before  # the copy's `stack select local` wrote one

    # A mistake in the last wave is found before the first stack runs.
    config = project.root / "policy-config.test-fleet-8.json"
    config.rename(project.root / "kept.json")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    refused = project.fkguard("fleet", "up", "-f", "fleet.yaml", check=False, env={"TMPDIR": str(scratch)})
    assert (refused.returncode, refused.stdout) == (2, ""), refused.stderr
    assert not list(scratch.iterdir())  # not even the folder of the logs
    assert refused.stderr.strip() == (f"fkguard fleet: stack 'test-fleet-8' has no policy-config.test-fleet-8.json in "
                                      f"{project.root}: fkguard init writes one; or copy policy-config.staging.json to "
                                      f"it; nothing ran")
    (project.root / "kept.json").rename(config)

    preview = project.fkguard("fleet", "preview", "-f", "fleet.yaml", "--log-dir", str(tmp_path / "preview"),
                              check=False)
    assert preview.returncode == 1, preview.stderr
    lines = {line.split()[1]: line.split() for line in preview.stdout.splitlines()[2:10]}
    assert lines["test-fleet-1"][3:6] == ["ok", "3", "3"]  # to add, to validate
    assert lines["test-fleet-2"][3:8] == ["failed", "0", "0", "fk_parcel_courier", "2"]
    assert lines["test-fleet-3"][3:6] == ["ok", "3", "3"]
    # A preview of 3 may end before the refused one of 2 (both only preview): then 4, and maybe 5, start.
    assert all(lines[f"test-fleet-{n}"][3:5] in (["ok", "3"], ["not", "started"]) for n in (4, 5))
    assert [lines[f"test-fleet-{n}"][3:5] for n in range(6, 9)] == [["not", "started"]] * 3
    assert re.search(r"fleet preview: [234] ok, 1 failed, [345] not started of 8 stacks in ", preview.stdout)
    assert all(fleet.in_database(database) == {} for database in databases.values())  # a preview changes nothing

    run = project.fkguard("fleet", "up", "-f", "fleet.yaml", "--json", "--log-dir", str(tmp_path / "logs"), check=False)
    assert run.returncode == 1, run.stderr
    summary = json.loads(run.stdout)
    by_stack = {s["stack"]: s for s in summary["stacks"]}
    assert [s["stack"] for s in summary["stacks"]] == [fleet.stack_name(n) for n in range(1, COUNT + 1)]
    assert {s: r["result"] for s, r in by_stack.items()} == {
        "test-fleet-1": "ok", "test-fleet-2": "failed", "test-fleet-3": "ok",  # 3 ran beside 2 and finished
        "test-fleet-4": "not started", "test-fleet-5": "not started",
        "test-fleet-6": "not started", "test-fleet-7": "not started", "test-fleet-8": "not started"}
    failed = by_stack["test-fleet-2"]
    assert failed["orphans_blocking"] == {"fk_parcel_courier": 2}
    assert failed["error"] == "the policy pack refused it: orphan-gate (1); nothing changed"
    assert failed["database"] == f"fkguard@127.0.0.1:{databases['test-fleet-2'].port}/fleet_e2e_2"
    for name in ("test-fleet-1", "test-fleet-3"):
        assert (by_stack[name]["added"], by_stack[name]["validated"], by_stack[name]["error"]) == (3, 3, None)

    # Exactly as reported: pg_constraint of each database, and each stack's own export.
    for stack, database in databases.items():
        row = by_stack[stack]
        expected = {name: True for name in fleet.NAMES} if row["validated"] == 3 else {}
        assert fleet.in_database(database) == expected, stack
        assert fleet.recorded(project, stack) == {n: "validated" for n in expected}, stack
        assert row["added"] == len(expected)

    status = json.loads(project.fkguard("fleet", "status", "-f", "fleet.yaml", "--json").stdout)
    assert {s["stack"]: (s["validated"], s["absent"], s["in_state"], s["drift"]) for s in status["stacks"]} == {
        stack: ((3, 0, {"validated": 3}, []) if by_stack[stack]["result"] == "ok" else (0, 3, {}, []))
        for stack in databases}

    # No stack was ever selected: the workspace files are as they were, local still the selected stack.
    assert fleet.workspace_files(project) == before
    assert project.run("stack", "--show-name").stdout.strip() == "local"
