"""A bash script run in a pseudo-terminal, the prompts answered as a user at the keyboard answers them: how the
README walk runs the README's commands as written (`pulumi up` without --yes asks, `fkguard remediate` and
`fkguard rollback` confirm at a terminal and refuse without one)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# CSI and OSC sequences, and the two-character escapes (ESC 7 and ESC 8 save and restore the cursor): what a
# terminal draws with, not text.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[^\[\]]")


def plain(text: str) -> str:
    """What the terminal shows, as text: escape sequences removed, carriage returns made line ends."""
    return _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True)
class Prompt:
    """A question the program waits on: `waiting` matches the screen's text after the question's last occurrence
    while it waits for an answer (not once answered); `reply` is what the user types."""
    question: str
    waiting: re.Pattern[str]
    reply: str


# fkguard's own confirmation (fkguard.commands.common.confirm): input() at a terminal.
FKGUARD_CONFIRM = Prompt("Type yes to proceed:", re.compile(r"^ *$"), "yes\r")
# pulumi's `Do you want to perform this update?` (a survey select of yes / no / details, `no` preselected): typing
# filters the choices, Enter takes the one left, as pulumi's own tests answer it. Once answered, the line shows the
# answer alone; while waiting, both `yes` and `no` are listed.
PULUMI_CONFIRM = Prompt("Do you want to perform this", re.compile(r"^ \w+\?[^\n]*\n(?=[\s\S]*\byes\b)(?=[\s\S]*\bno\b)"
                                                                   r"(\s*>?\s*(yes|no|details)\s*)+$"), "yes\r")
PROMPTS = (FKGUARD_CONFIRM, PULUMI_CONFIRM)


@dataclass
class Session:
    returncode: int
    output: str  # as plain text
    answered: int  # prompts answered
    timed_out: bool


def run(script: str, cwd: Path, env: Mapping[str, str], timeout: float, prompts: tuple[Prompt, ...] = PROMPTS,
        quiet: float = 0.3) -> Session:
    """Run `bash -c script` with a terminal of 200 x 50 as its stdin, stdout and stderr, answering `prompts` once the
    screen has been still for `quiet` seconds on one; killed (its whole session) after `timeout` seconds."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session of its own with the terminal as its controlling one
        try:
            os.chdir(cwd)
            os.execve("/bin/bash", ["bash", "--noprofile", "--norc", "-c", script], dict(env))
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    raw, answered_upto, answered = b"", 0, 0
    deadline, last_output, timed_out = time.monotonic() + timeout, time.monotonic(), False
    status: int | None = None
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 0.1)
            chunk = _read(fd) if ready else b""
            if chunk:
                raw, last_output = raw + chunk, time.monotonic()
                continue
            if not ready:  # has bash ended? (a process it left may hold the terminal open: not waited for here)
                done, how = os.waitpid(pid, os.WNOHANG)
                status, ready = (how, True) if done else (None, False)
            if ready:  # or the terminal closed
                break
            if time.monotonic() > deadline:
                timed_out = True
                break
            if time.monotonic() - last_output < quiet:
                continue
            screen = plain(raw.decode(errors="replace"))
            for prompt in prompts:
                at = screen.rfind(prompt.question)
                if at >= answered_upto and prompt.waiting.search(screen[at + len(prompt.question):]):
                    os.write(fd, prompt.reply.encode())
                    answered_upto, answered = at + 1, answered + 1
                    break
        while select.select([fd], [], [], 0.2)[0] and (chunk := _read(fd)):  # what is left on the screen
            raw += chunk
    finally:
        if timed_out:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # bash and everything in its session
        if status is None:
            status = os.waitpid(pid, 0)[1]
        os.close(fd)
    code = os.waitstatus_to_exitcode(status)
    return Session(code, plain(raw.decode(errors="replace")), answered, timed_out)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError as exc:  # EIO: every writer of the terminal has gone
        if exc.errno != errno.EIO:
            raise
        return b""
