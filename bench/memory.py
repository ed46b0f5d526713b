"""Peak resident memory of what a pulumi command starts, by role: the engine (the `pulumi` binary), the
program (the Python language host's process running the project's __main__.py), the policy pack and the
dynamic providers.

How: while the command runs, a thread walks /proc every 0.1 s for the descendants of this process and keeps,
per role, the largest VmHWM seen (the kernel's own high-water mark of a process's resident set, so a peak
between two samples is still counted; only growth in a process's last 0.1 s before it exits can be missed).
Several processes of one role (the providers, say) report the largest one, not their sum. getrusage of the
children cannot tell one command's processes from another's, nor the engine from the program: it reports
the largest child ever waited for."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROLES = ("engine", "program", "pack", "providers")


def _parents() -> dict[int, int]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The fields after the command's name (in parentheses, which may hold spaces): state, ppid.
                out[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # exited between the listing and the read
    return out


def _descendants(root: int) -> list[tuple[int, bool]]:
    """(pid, whether root's own child) of every process below root."""
    parents = _parents()
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier]
        found += [(pid, frontier == [root]) for pid in children]
        frontier = children
    return found


def role(cmdline: list[str], direct: bool) -> str | None:
    """Which part of a pulumi run a process is, from its command line (None: not one measured). The engine is
    the pulumi command the bench started, or a `pulumi preview` / `pulumi up` started below it; the `pulumi
    config` the program runs below an engine is not."""
    if not cmdline:
        return None
    exe = os.path.basename(cmdline[0])
    if exe == "pulumi":
        # A fleet's engines run below `fkguard fleet` (pulumi.automation), not below the bench: known by their command.
        command = [a for a in cmdline[1:3] if not a.startswith("-")][:1]  # automation puts --non-interactive first
        return "engine" if direct or command in (["preview"], ["up"]) else None
    if "python" not in exe:
        return None  # the Go language hosts and plugins: small, and not what the issue asks about
    args = cmdline[1:]
    if any(a.endswith("pulumi-language-python-exec") for a in args):
        return "program"  # the language host's runner of the project's __main__.py
    if args[:3] == ["-u", "-m", "pulumi.dynamic"]:
        return "providers"
    if len(args) == 2 and Path(args[0]).name == "policies":
        return "pack"  # the analyzer: the policy pack's python, given the pack's folder and the engine's address
    return None


def _hwm_kib(pid: int, direct: bool) -> tuple[str | None, int]:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None, 0
    kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
    return role([c for c in cmdline if c], direct), kib


@contextmanager
def peaks(interval: float = 0.1) -> Iterator[dict[str, int]]:
    """Yields a dict that holds, once the block ends, the peak VmHWM in KiB per role (0 where none ran)."""
    found = dict.fromkeys(ROLES, 0)
    stop = threading.Event()

    def sample() -> None:
        while True:
            for pid, direct in _descendants(os.getpid()):
                name, kib = _hwm_kib(pid, direct)
                if name:
                    found[name] = max(found[name], kib)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        stop.set()
        thread.join()
