"""The only place fkguard reaches into private parts of the Pulumi Python SDK.

Each hook below depends on something the SDK does not promise to keep; `tests/test_pulumi_sdk.py` checks every
one of those assumptions against the installed SDK, so an upgrade that changes them fails there, by name,
instead of somewhere in a rollout.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pulumi import dynamic
    from pulumi.automation import LocalWorkspace, Stack

# The dynamic provider server (`python -m pulumi.dynamic`) wraps each step in this decorator, which reports a
# failure with its module-level `traceback.format_exc()`.
PROVIDER_SERVER_ABORT = "_abort_with_traceback"
# Where dynamic.Config keeps the stack's whole configuration (it offers only get(key) publicly).
CONFIG_MAPPING = "_props"
# The program's end: run_pulumi_func awaits this module-level function of pulumi.runtime.stack, by name, once the
# program has registered everything; its outputs loop reads the set of pending outputs, SETTINGS.outputs.
DRAIN = "wait_for_rpcs"


def unselected_stack(name: str, workspace: LocalWorkspace) -> Stack:
    """An automation Stack for `name` that never runs `pulumi stack select`: Stack.__init__ always selects (or
    creates), which writes the one workspace file under $PULUMI_HOME that parallel stacks would share."""
    # Imported here: the provider server and the fkguard command need not load the automation API.
    from pulumi.automation import Stack
    from pulumi.automation._stack import StackInitMode

    class _Unselected(Stack):
        def __init__(self) -> None:  # noqa: D107 (the attributes Stack.__init__ sets, without its select)
            self.name, self.workspace, self._mode = name, workspace, StackInitMode.SELECT

    return _Unselected()


def provider_config(req: dynamic.ConfigureRequest) -> dict[str, Any] | None:
    """The stack's configuration a provider's configure receives, as one mapping; None where the SDK keeps it
    otherwise (the caller then asks for the keys it knows, one by one)."""
    raw = getattr(req.config, CONFIG_MAPPING, None)
    return dict(raw) if isinstance(raw, dict) else None


def format_provider_failures_with(replacement: Any) -> bool:
    """Make the provider server format a failed step with `replacement` (an object with traceback's functions)
    instead of the traceback module, in that module only: the rest of the process keeps its tracebacks.
    False when this process is not the SDK's provider server."""
    server = sys.modules.get("__main__")
    if getattr(server, "traceback", None) is traceback and hasattr(server, PROVIDER_SERVER_ABORT):
        server.traceback = replacement  # type: ignore[union-attr]
        return True
    return False


def drain_outputs_at_once() -> bool:
    """Settle the program's outstanding outputs with one wait over all of them before the SDK's own drain runs.

    The SDK's drain (pulumi.runtime.stack.wait_for_rpcs, 3.272) calls asyncio.wait(FIRST_COMPLETED) over every
    pending output once per completion, and each call adds and removes a callback on every one of them: its cost is
    the square of the outputs, and a key holds about twenty (python/cpython#74741). Waiting once with
    FIRST_EXCEPTION settles the same outputs in one pass; whatever is left, a failure included, then goes through
    the SDK's own loop unchanged, which raises it as it always did. False when the SDK has no such drain."""
    from pulumi.runtime import stack
    from pulumi.runtime.settings import SETTINGS

    original = getattr(stack, DRAIN, None)
    if original is None or getattr(original, "fkguard_drain", False):
        return original is not None

    async def drain(await_all_outstanding_tasks: bool = True) -> None:
        if await_all_outstanding_tasks:
            await _settle(lambda: SETTINGS.outputs, SETTINGS.lock)
        await original(await_all_outstanding_tasks)

    drain.fkguard_drain = True  # type: ignore[attr-defined]
    drain.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(stack, DRAIN, drain)
    return True


async def _settle(outputs: Callable[[], set[Awaitable[Any]]], lock: Any) -> None:
    """Wait for every pending output, and for those they start, until one fails or none is left."""
    while True:
        with lock:
            pending = [task for task in outputs() if not task.done()]  # type: ignore[attr-defined]
        if not pending:
            return
        done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
        if any(not task.cancelled() and task.exception() is not None for task in done):
            return
