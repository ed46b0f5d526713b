"""What a stack's state records about fkguard's constraints, read through the pulumi CLI."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fkguard.resource_properties import RESOURCE_TYPE
from fkguard.stack import project
from fkguard.stack.settings import SettingsError, pulumi_cli, pulumi_refusal, workspace


@dataclass(frozen=True)
class Recorded:
    name: str  # a constraint's own name (constraintName); any other resource's name
    urn: str
    state: str
    dependencies: tuple[str, ...]
    type: str
    table: str = ""  # a constraint's table, schema.table

    @property
    def label(self) -> str:
        """The resource's name in the stack: a constraint's label (fkguard.catalog.ForeignKey.label)."""
        return self.urn.rsplit("::", 1)[-1]

    @property
    def qualified(self) -> str:
        """schema.table.name for a constraint: how a catalog entry finds its resource, whatever its label."""
        return f"{self.table}.{self.name}" if self.table else self.name


def run_pulumi(args: list[str], project_dir: Path | None = None, *, check: bool = True,
               env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The CLI itself, for fkguard init: `pulumi stack init` through automation (Stack.create) would also
    select the new stack, and `config set --secret` reads the password from stdin, which it cannot give."""
    project_dir = project.or_working(project_dir)
    result = subprocess.run(
        [pulumi_cli(project_dir), *args, "--cwd", str(project_dir)], input=stdin,
        capture_output=True, text=True, check=False,
        env={**(os.environ if env is None else env), "PULUMI_SKIP_UPDATE_CHECK": "true"},
    )
    if check and result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or [f"pulumi {args[0]} failed"])[-1]
        raise SettingsError(f"pulumi {' '.join(args[:2])}: {reason}")
    return result


def _exported(stack: str, project_dir: Path | None) -> list[dict[str, Any]]:
    from pulumi.automation import CommandError

    try:
        exported = workspace(stack, project_dir).export_stack(stack)
    except CommandError as exc:
        raise SettingsError(f"pulumi stack export: {pulumi_refusal(exc, 'stack export')}") from None
    return list((exported.deployment or {}).get("resources") or [])


def recorded_resources(stack: str, project_dir: Path | None = None) -> list[Recorded]:
    """Every resource the stack's state holds (constraints, tier gates, the backup), one export."""
    return [_recorded(r) for r in _exported(stack, project_dir)]


def _recorded(resource: dict) -> Recorded:
    outputs = resource.get("outputs") or {}
    name = outputs.get("constraintName") or resource["urn"].rsplit("::", 1)[-1]
    return Recorded(name, resource["urn"], outputs.get("state") or "unknown",
                    tuple(resource.get("dependencies") or ()), resource.get("type", ""), str(outputs.get("table") or ""))


def constraints_of(resources: list[Recorded]) -> dict[str, Recorded]:
    """The constraints among these, by schema.table.name (a name alone may be on several tables)."""
    return {r.qualified: r for r in resources if r.type == RESOURCE_TYPE}


def recorded_constraints(stack: str, project_dir: Path | None = None) -> dict[str, Recorded]:
    """The constraints the stack's state holds, by schema.table.name."""
    return constraints_of(recorded_resources(stack, project_dir))


def dependents(resources: list[Recorded], urns: set[str]) -> list[Recorded]:
    """Every resource that depends on these, directly or through others (a tier's gate, say)."""
    found: set[str] = set()
    grew = True
    while grew:
        grew = False
        for r in resources:
            if r.urn not in urns | found and set(r.dependencies) & (urns | found):
                found.add(r.urn)
                grew = True
    return [r for r in resources if r.urn in found]


def recorded_output(stack: str, resource_type: str, key: str, project_dir: Path | None = None) -> Any:
    """One output of the stack's resource of this type (the monitoring baseline, say), or None."""
    for resource in _exported(stack, project_dir):
        if resource.get("type") == resource_type:
            return (resource.get("outputs") or {}).get(key)
    return None
