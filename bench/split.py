"""Section 6's split row (--scale-split K): the same synthetic catalog, its child tables spread over K schemas,
split by schema across K stacks of the one database (fkguard:schemas) and run by `fkguard fleet up`, `parallel`
stacks at a time, each through the policy gate: the fleet's wall time to add the keys and to find nothing to
change, and the largest stack's engine, program and pack peak memory (bench.memory counts every `pulumi`
preview or up the fleet starts as an engine, and reports the largest of each role)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from bench import memory
from fkguard.stack.settings import ConnectionSettings
from fkguard_testing.scratch import ScratchProject

FLEET_FILE = "split-fleet.yaml"


def stack_name(j: int) -> str:
    return f"test-split-{j + 1}"  # a throwaway name: the local stack's passphrase opens it


def _add_stacks(project: ScratchProject, settings: ConnectionSettings, schemas: list[str]) -> list[str]:
    """One stack per schema beside the copy's local stack: local's config (its encrypted password), its own part."""
    local = yaml.safe_load((project.root / "Pulumi.local.yaml").read_text())
    names = []
    for j, schema in enumerate(schemas):
        name = stack_name(j)
        config = {**local["config"], "postgresql:database": settings.database, "fkguard:catalog": "scale.yaml",
                  "fkguard:schemas": schema}
        (project.root / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({**local, "config": config}))
        shutil.copy2(project.root / "policy-config.local.json", project.root / f"policy-config.{name}.json")
        project.run("stack", "init", name, "--secrets-provider", "passphrase")
        names.append(name)
    project.run("stack", "select", "local")
    return names


def _fleet_up(project: ScratchProject, r: dict, key: str, parallel: int, logs: Path) -> None:
    started = time.monotonic()
    with memory.peaks() as peaks:
        ran = project.fkguard("fleet", "up", "-f", FLEET_FILE, "--json", "--parallel", str(parallel),
                              "--log-dir", str(logs / key), check=False)
    outcome = json.loads(ran.stdout or "{}")
    if not outcome.get("ok"):
        raise RuntimeError(f"fkguard fleet up of the split failed (logs in {logs / key}): {ran.stderr[-2000:]}")
    r[key], r[f"{key}_mem"] = time.monotonic() - started, peaks  # the whole command, as its user waits for it
    r[f"{key}_added"] = sum(s["added"] for s in outcome["stacks"])
    r[f"{key}_stacks"] = {s["stack"]: s["seconds"] for s in outcome["stacks"]}  # each stack's own preview and up


def one_split(settings: ConnectionSettings, project: ScratchProject, entries: list[dict], schemas: list[str],
              parallel: int, logs: Path, measured: Callable[[dict], None] = lambda _: None) -> dict:
    """The split's row; its stacks are removed afterwards (with --force: the caller drops their schemas)."""
    (project.root / "scale.yaml").write_text(yaml.safe_dump({"constraints": entries}))
    names = _add_stacks(project, settings, schemas)
    (project.root / FLEET_FILE).write_text(yaml.safe_dump({"parallel": parallel, "waves": [
        {"name": "split", "stacks": names}]}))
    r: dict = {"n": len(entries), "split": len(schemas), "parallel": parallel}
    try:
        _fleet_up(project, r, "gated_up_add_s", parallel, logs)
        measured(r)
        _fleet_up(project, r, "gated_up_nochange_s", parallel, logs)
        measured(r)
    finally:
        for name in names:
            project.run("stack", "rm", name, "--force", "--yes", check=False)
    return r
