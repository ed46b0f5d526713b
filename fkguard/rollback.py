"""A rollback: the constraints a stack records, dropped with `pulumi destroy --target`, and what must go
with them (their dependents, and the supporting indexes nothing else uses)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from fkguard import indexes
from fkguard.catalog import ForeignKey
from fkguard.stack import secrets as stack_secrets
from fkguard.stack import settings
from fkguard.stack import state as stackstate


@dataclass(frozen=True)
class Plan:
    targets: list[stackstate.Recorded]  # the wanted constraints the stack records
    dependents: list[stackstate.Recorded]  # what depends on them, directly or not: it goes too
    supporting: list[stackstate.Recorded]  # their indexes nothing else uses (fkguard drops only those it built)

    @property
    def dependent_constraints(self) -> list[str]:
        return sorted(r.label for r in self.dependents if r.type == stackstate.RESOURCE_TYPE)

    def command(self, stack: str, yes: bool) -> list[str]:
        """The pulumi command, as printed to the user (`pulumi` first, whichever CLI runs it)."""
        command = ["pulumi", "destroy", "--stack", stack, "--skip-plugin-pre-install"]
        for r in (*self.targets, *self.supporting):
            command += ["--target", r.urn]
        if self.dependents:
            command.append("--target-dependents")
        if yes:
            command += ["--yes", "--non-interactive"]
        return command


def plan(stack: str, project_dir: Path, wanted: list[ForeignKey]) -> Plan:
    """What rolling back these keys takes; no targets when the stack records none of them."""
    resources = stackstate.recorded_resources(stack, project_dir)
    recorded = stackstate.constraints_of(resources)
    targets = [recorded[fk.qualified] for fk in wanted if fk.qualified in recorded]
    if not targets:
        return Plan([], [], [])
    dependents = stackstate.dependents(resources, {t.urn for t in targets})
    supporting = indexes.serving_only(resources, {t.urn for t in targets} | {r.urn for r in dependents})
    return Plan(targets, dependents, supporting)


def destroy(command: list[str], stack: str, project_dir: Path) -> int:
    """Run the printed command; pulumi's exit code.

    The CLI, not pulumi.automation's Stack.destroy(target=..., target_dependents=True): that would first
    `pulumi stack select` the stack (changing the user's selected stack), and always runs --yes
    --non-interactive, so without --yes pulumi could not show its plan and ask. The printed command is
    exactly what runs. destroy opens the stack's secrets: the same passphrase rule as every other pulumi."""
    cli = settings.pulumi_cli(project_dir)
    env = stack_secrets.env_for(stack, os.environ, project_dir)
    return subprocess.run([cli, *command[1:]], check=False, env=env, cwd=project_dir).returncode
