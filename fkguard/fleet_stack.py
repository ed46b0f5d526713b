"""One stack of a fleet through the policy pack, with pulumi.automation: what `fkguard fleet` runs per stack.

Each stack gets a LocalWorkspace of its own (fkguard.stack.settings.workspace: the bootstrap's CLI and the
environment fkguard.stack.secrets allows for that stack) and is never `pulumi stack select`ed:
automation's Stack() would select it, which writes the project's workspace file
($PULUMI_HOME/workspaces/<project>-<hash>-workspace.json, one per project folder). Parallel stacks
would race on that one file, and the user's selected stack would change under them. Every command a
Stack runs names --stack, and pulumi's preview, up and refresh never write that file.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fkguard import policy_findings
from fkguard.errors import FkguardError
from fkguard.policy_findings import RecordedFinding
from fkguard.resource_properties import RESOURCE_TYPE
from fkguard.stack import pulumi_sdk, settings
from fkguard.stack import secrets as stack_secrets

if TYPE_CHECKING:
    from pulumi.automation import EngineEvent, Stack

OK, FAILED, NOT_STARTED = "ok", "failed", "not started"
POLICY_PACK = "policies"  # the same gate as make's GATE: --policy-pack policies --policy-pack-config policy-config.<stack>.json
ORPHAN_GATE = "orphan-gate"


class FleetError(FkguardError):
    """A fleet that cannot run as asked; nothing has started. The message names the stack or file and the fix."""


def policy_config(stack: str, project_dir: Path) -> Path:
    """The stack's policy levels, as `make up STACK=<stack>` passes them; refused before anything runs when missing."""
    path = project_dir / f"policy-config.{stack_secrets.short_name(stack)}.json"
    if not path.is_file():
        raise FleetError(f"stack {stack!r} has no {path.name} in {project_dir}: fkguard init writes one; or copy "
                         f"policy-config.staging.json to it")
    return path


def gate(stack: str, project_dir: Path) -> tuple[list[str], list[str]]:
    """Stack.preview/up's policy_packs and policy_pack_configs: the pack, and the stack's own config of it."""
    return [str(project_dir / POLICY_PACK)], [str(policy_config(stack, project_dir))]


def unselected(stack: str, project_dir: Path) -> Stack:
    """An automation Stack on its own workspace, without `pulumi stack select` (see the module's docstring)."""
    return pulumi_sdk.unselected_stack(stack, settings.workspace(stack, project_dir))


@dataclass
class StackResult:
    """One stack's line of the summary. For preview, added and validated are what the stack would do."""

    stack: str
    wave: str
    database: str = ""
    result: str = NOT_STARTED
    added: int = 0
    validated: int = 0
    orphans: dict[str, int | None] = field(default_factory=dict)  # constraint -> rows without a parent
    seconds: float | None = None
    error: str | None = None
    log: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "wave": self.wave, "database": self.database, "result": self.result,
                "added": self.added, "validated": self.validated, "orphans_blocking": self.orphans,
                "seconds": self.seconds, "error": self.error, "log": self.log}


def _validated(outputs: Mapping[str, Any] | None) -> bool:
    return bool(outputs) and (outputs or {}).get("state") == "validated"


class Tally:
    """Counts a run's foreign keys from the engine's events: in a preview the steps it plans (resource-pre
    events), in an update the steps done (resource-outputs events, sent only once a step succeeded), so a
    failed update counts exactly what it changed. And the mandatory violations, by policy."""

    def __init__(self) -> None:
        self.added = 0
        self.validated = 0
        self.orphans: dict[str, int | None] = {}  # rows: None until the pack's recorded finding says (take)
        self._orphan_urns: dict[str, str] = {}  # urn -> constraint, of orphan-gate's mandatory violations
        self.mandatory: dict[str, int] = {}  # policy -> violations
        self._lock = threading.Lock()  # automation delivers events from a gRPC server's threads

    def listener(self, phase: str, counted: bool) -> Callable[[EngineEvent], None]:
        """on_event for one pulumi command: phase 'preview' or 'up'; counted: its steps are the ones reported."""
        def on_event(event: EngineEvent) -> None:
            with self._lock:
                if event.policy_event is not None:
                    self._policy(event.policy_event)
                elif counted and phase == "preview" and event.resource_pre_event is not None:
                    self._step(event.resource_pre_event.metadata, planned=True)
                elif counted and phase == "up" and event.res_outputs_event is not None:
                    self._step(event.res_outputs_event.metadata, planned=False)
        return on_event

    def _step(self, metadata: Any, planned: bool) -> None:
        from pulumi.automation import OpType

        if metadata.type != RESOURCE_TYPE or metadata.op not in (OpType.CREATE, OpType.CREATE_REPLACEMENT,
                                                                 OpType.UPDATE):
            return
        old, new = metadata.old, metadata.new
        if planned:  # what the step asks for (its inputs) against what the state recorded
            now = bool(new and (new.inputs or {}).get("validated"))
            before = bool(old and (old.outputs or {}).get("convalidated"))
        else:
            now = bool(new and _validated(new.outputs))
            before = bool(old and _validated(old.outputs))
        self.added += metadata.op != OpType.UPDATE
        self.validated += now and not before

    def _policy(self, event: Any) -> None:
        if str(event.enforcement_level).lower() != "mandatory":
            return
        self.mandatory[event.policy_name] = self.mandatory.get(event.policy_name, 0) + 1
        if event.policy_name == ORPHAN_GATE:
            urn = str(event.resource_urn or "")
            name = urn.rsplit("::", 1)[-1]  # the resource's name is the constraint's label (the program's choice)
            self._orphan_urns[urn] = name
            self.orphans.setdefault(name, None)

    def take(self, recorded: list[RecordedFinding]) -> None:
        """The rows of orphan-gate's violations, from the data the pack recorded beside them
        (fkguard.policy_findings); a violation without a record keeps None ('?' in the summary)."""
        with self._lock:
            for finding in recorded:
                name = self._orphan_urns.get(finding.urn)
                if finding.policy == ORPHAN_GATE and name is not None and isinstance(finding.data.get("rows"), int):
                    self.orphans[name] = finding.data["rows"]

    def refusal(self) -> str | None:
        if not self.mandatory:
            return None
        return "the policy pack refused it: " + ", ".join(f"{policy} ({n})" for policy, n in sorted(self.mandatory.items()))


def run(result: StackResult, command: str, project_dir: Path, log: Path) -> StackResult:
    """Preview the stack through the gate; for `up`, then update it through the gate again. The preview comes
    first because automation's up runs `pulumi up --skip-preview`: without it, a mandatory violation would stop
    the update only at the resource it concerns, after the steps before it had run."""
    tally = Tally()
    started = time.monotonic()
    result.log = str(log)
    # The pack records each finding's data here (fkguard.policy_findings): the rows behind orphan-gate's refusal.
    with tempfile.TemporaryDirectory(prefix="fkguard-findings-") as scratch:
        findings = Path(scratch) / "findings.jsonl"
        phase = _through_the_gate(result, command, project_dir, log, tally, findings)
        tally.take(policy_findings.read(findings))
    if result.result == OK or phase == "up":  # a refused preview would change nothing: it planned nothing
        result.added, result.validated = tally.added, tally.validated
    result.orphans = tally.orphans
    result.seconds = round(time.monotonic() - started, 2)
    return result


def _through_the_gate(result: StackResult, command: str, project_dir: Path, log: Path, tally: Tally,
                      findings: Path) -> str:
    """run's pulumi commands, their output written to `log`; the phase it ended in ('preview' or 'up')."""
    from pulumi.automation import CommandError

    lock = threading.Lock()
    phase = "preview"
    with log.open("w") as out:
        def write(line: str) -> None:
            with lock:
                out.write(line + "\n")

        try:
            target = unselected(result.stack, project_dir)
            target.workspace.env_vars = {**target.workspace.env_vars, policy_findings.ENV: str(findings)}
            packs, configs = gate(result.stack, project_dir)
            target.preview(policy_packs=packs, policy_pack_configs=configs, color="never", on_output=write,
                           on_event=tally.listener("preview", counted=command == "preview"))
            if command == "up":
                phase = "up"
                target.up(policy_packs=packs, policy_pack_configs=configs, color="never", on_output=write,
                          on_event=tally.listener("up", counted=True))
            result.result = OK
        except CommandError as exc:
            result.result = FAILED
            refused = tally.refusal()
            reason = refused or settings.pulumi_refusal(exc, phase)
            result.error = f"{reason}; nothing changed" if phase == "preview" and command == "up" else reason
        except FkguardError as exc:
            result.result, result.error = FAILED, str(exc)
    return phase
