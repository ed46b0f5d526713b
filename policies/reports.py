"""Each violation once per `pulumi up`.

`pulumi up` runs the pack twice, in its preview and again in its update, each time in a new
process, and prints both runs' findings: every advisory appeared twice. The two processes share
one ancestor, the `pulumi` command itself, so a finding is remembered under that command's pid
and start time, and said again only by another command. This never hides a mandatory violation:
one reported in the preview stops `up` before its update runs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


def _process(pid: int) -> tuple[str, int, int]:
    """(name, parent pid, start time) of a process, from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    name = stat[stat.index("(") + 1: stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    return name, int(fields[1]), int(fields[19])


def pulumi_command() -> str | None:
    """'<pid>-<start time>' of the pulumi command this pack runs under, or None when there is none."""
    pid = os.getppid()
    try:
        while pid > 1:
            name, parent, started = _process(pid)
            if name == "pulumi":
                return f"{pid}-{started}"
            pid = parent
    except (OSError, ValueError, IndexError):
        return None
    return None


def _folder() -> Path:
    home = Path(os.environ.get("PULUMI_HOME") or Path.home() / ".pulumi")
    return home / "fkguard-policy-reports"


def _sweep(folder: Path) -> None:
    """Forget the findings of pulumi commands that have ended."""
    for entry in folder.iterdir() if folder.is_dir() else ():
        pid, _, started = entry.name.partition("-")
        try:
            alive = _process(int(pid))[2] == int(started)
        except (OSError, ValueError, IndexError):
            alive = False
        if not alive:
            shutil.rmtree(entry, ignore_errors=True)


_command = pulumi_command()
if _command:
    _sweep(_folder())


def first_time(policy: str, urn: str, message: str) -> bool:
    """True unless this pulumi command already heard this finding (from its preview)."""
    if _command is None:
        return True
    folder = _folder() / _command
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256("\0".join((policy, urn, message)).encode()).hexdigest()
    try:
        (folder / digest).open("x").close()
    except FileExistsError:
        return False
    return True
