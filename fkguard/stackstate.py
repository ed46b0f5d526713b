"""What a stack's state records about fkguard's constraints, read through the pulumi CLI."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from fkguard.props import RESOURCE_TYPE
from fkguard.settings import SettingsError, pulumi_cli


@dataclass(frozen=True)
class Recorded:
    name: str
    urn: str
    state: str
    dependencies: tuple[str, ...]


def run_pulumi(args: list[str], project_dir: Path | None = None, *, check: bool = True) -> subprocess.CompletedProcess:
    project_dir = (project_dir or Path.cwd()).resolve()
    result = subprocess.run(
        [pulumi_cli(project_dir), *args, "--cwd", str(project_dir)],
        capture_output=True, text=True, check=False, env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"},
    )
    if check and result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or [f"pulumi {args[0]} failed"])[-1]
        raise SettingsError(f"pulumi {' '.join(args[:2])}: {reason}")
    return result


def recorded_constraints(stack: str, project_dir: Path | None = None) -> dict[str, Recorded]:
    """The constraints the stack's state holds, by constraint name."""
    exported = json.loads(run_pulumi(["stack", "export", "--stack", stack], project_dir).stdout)
    found: dict[str, Recorded] = {}
    for resource in exported.get("deployment", {}).get("resources") or []:
        if resource.get("type") != RESOURCE_TYPE:
            continue
        outputs = resource.get("outputs") or {}
        name = outputs.get("constraintName") or resource["urn"].rsplit("::", 1)[-1]
        found[name] = Recorded(name, resource["urn"], outputs.get("state") or "unknown",
                               tuple(resource.get("dependencies") or ()))
    return found
