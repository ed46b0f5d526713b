"""Ending with the engine: a `pulumi` killed outright (SIGKILL, the OOM killer) cannot stop what it started, and
the dynamic provider and the policy pack then wait forever for calls that never come, each holding its database
sessions open, a statement of the dead run perhaps still running (the program waits too). Pulumi's own Go plugins
ask the engine's gRPC health service every 5 minutes and end when it stops answering; fkguard's provider, pack and
program ask every second, and once the engine is gone they cancel what they still run in PostgreSQL and end, so
that the recovery (docs/recovery.md) meets no session of the dead run. The chaos campaign found them (make chaos)."""

from __future__ import annotations

import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

import psycopg

INTERVAL_S = 1.0
MISSES = 2  # consecutive unanswered checks: one refused connection is not yet a dead engine
EXIT_CODE = 70
_ADDRESS = re.compile(r"^(127\.0\.0\.1|localhost|\[::1\]):\d+$")
_open: weakref.WeakSet[psycopg.Connection] = weakref.WeakSet()
_watching = threading.Event()


def opened(conn: psycopg.Connection) -> psycopg.Connection:
    """Every connection fkguard opens: what a process cancels before it ends with its engine."""
    _open.add(conn)
    return conn


def provider_engine(argv: Sequence[str]) -> str | None:
    """The engine's address when this process is a dynamic provider server (`python -m pulumi.dynamic <engine>`)."""
    is_server = len(argv) > 1 and argv[0].endswith(os.path.join("pulumi", "dynamic", "__main__.py"))
    return argv[1] if is_server and _ADDRESS.match(argv[1]) else None


def pack_engine(argv: Sequence[str]) -> str | None:
    """The engine's address when this process is a policy pack (`python <pack folder> <engine>`)."""
    return argv[1] if len(argv) > 1 and _ADDRESS.match(argv[1]) else None


def program_engine(cmdline: Path = Path("/proc/self/cmdline")) -> str | None:
    """The engine's address when this process is the Pulumi program: pulumi-language-python-exec's `--engine`,
    from the command line the process started with (the SDK replaced sys.argv with the program's)."""
    try:
        args = cmdline.read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None
    if not any(a.endswith("pulumi-language-python-exec") for a in args[:2]) or "--engine" not in args[:-1]:
        return None
    address = args[args.index("--engine") + 1]
    return address if _ADDRESS.match(address) else None


def answers(address: str, timeout_s: float = 2.0) -> bool:
    """False only when nothing listens at the engine's address any more (a slow answer is still an answer)."""
    import grpc  # type: ignore[import-untyped]  # the SDKs' transport, untyped; the fkguard command never loads it

    with grpc.insecure_channel(address) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=None,
                                    response_deserializer=None)
        try:
            check(b"", timeout=timeout_s)
        except grpc.RpcError as exc:
            return exc.code() != grpc.StatusCode.UNAVAILABLE
    return True


def cancel_and_exit() -> None:
    """Cancel what runs on fkguard's connections (PostgreSQL rolls it back), then end the process. Nothing is
    printed: the process's stdout and stderr were pipes to the dead pulumi, and writing there raises."""
    try:
        for conn in list(_open):
            if not conn.closed:
                conn.cancel()
    except Exception:  # noqa: BLE001, S110  (ending is what matters; PostgreSQL ends the session with the socket)
        pass
    finally:
        os._exit(EXIT_CODE)


def watch(address: str | None, on_gone: Callable[[], None] = cancel_and_exit,
          interval_s: float = INTERVAL_S) -> threading.Thread | None:
    """Check the engine at `address` every `interval_s` from a daemon thread (once per process)."""
    if not address or _watching.is_set():
        return None
    _watching.set()

    def loop() -> None:
        misses = 0
        while True:
            time.sleep(interval_s)
            misses = 0 if answers(address) else misses + 1
            if misses >= MISSES:
                on_gone()
                return

    thread = threading.Thread(target=loop, name="fkguard-engine-watch", daemon=True)
    thread.start()
    return thread
