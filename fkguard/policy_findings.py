"""The policy pack's findings as data, for `fkguard fleet`: what a policy measured (orphan-gate: the rows
without a parent) beside the message the engine shows.

The engine passes a pack's violations on as prose only (a policy event's message), and the message is
what users read, so it stays as it is. The data goes another way: the pack runs under the pulumi command
it was started by, with that command's environment, so a caller that wants the data names a file in
FKGUARD_POLICY_FINDINGS (fkguard.fleet_stack does, one file per stack), and the pack appends one JSON line
per finding it reports. Without the variable (a plain `pulumi up`) nothing is written.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV = "FKGUARD_POLICY_FINDINGS"
_lock = threading.Lock()  # the engine calls the pack from several threads; one line is written at a time


@dataclass(frozen=True)
class RecordedFinding:
    """One reported finding's data: the policy, the resource (its URN) and what the policy measured."""

    policy: str
    urn: str
    data: Mapping[str, Any] = field(default_factory=dict)


def record(policy: str, urn: str, data: Mapping[str, Any], env: Mapping[str, str] | None = None) -> None:
    """Append one finding to the file FKGUARD_POLICY_FINDINGS names; nothing when it names none."""
    path = (os.environ if env is None else env).get(ENV)
    if not path:
        return
    # default=str: a sampled key may be a UUID, a date, a Decimal: the reader wants to show it, not compute.
    line = json.dumps({"policy": policy, "urn": urn, "data": dict(data)}, default=str, sort_keys=True)
    with _lock, Path(path).open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def read(path: Path) -> list[RecordedFinding]:
    """The findings recorded in `path`, in the order reported; none when the pack wrote nothing."""
    if not path.is_file():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            found.append(RecordedFinding(entry["policy"], entry["urn"], entry.get("data") or {}))
    return found
