"""No process outlives a test: what pulumi started for a project copy (its language host, the
dynamic providers, the policy pack) runs with the copy as its working directory, so that is how
they are found, given a moment to end on their own, then killed and reported."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def running_in(root: Path) -> dict[int, str]:
    """pid -> command line of every live process of ours whose working directory is in `root`."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
            if " Z " in (entry / "stat").read_text().rsplit(")", 1)[1][:3]:
                continue  # a zombie has ended; its parent only has not read its status yet
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if cwd == root or root in cwd.parents:
            found[int(entry.name)] = command
    return found


def reap(root: Path, grace: float = 10.0) -> dict[int, str]:
    """Wait up to `grace` seconds for root's processes to end, SIGKILL the rest; return those that had to be."""
    deadline = time.monotonic() + grace
    while (left := running_in(root)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return left
