"""What fkguard.stack.pulumi_sdk assumes about the installed Pulumi SDK's private parts. A failure here after an SDK
upgrade names the assumption that broke; fix fkguard/stack/pulumi_sdk.py, the one module that relies on them."""

import importlib.util
import inspect
import re
import subprocess
import sys
import types
from pathlib import Path

from pulumi import dynamic
from pulumi.automation import LocalWorkspace, Stack

from fkguard.stack import pulumi_sdk

ROOT = Path(__file__).resolve().parent.parent


def provider_server_source() -> str:
    """The provider server's source: importing it would start the server (it calls main() unguarded)."""
    spec = importlib.util.find_spec("pulumi.dynamic.__main__")
    assert spec and spec.origin, "the SDK has no pulumi.dynamic.__main__ (the dynamic provider server)"
    return Path(spec.origin).read_text()


def test_the_provider_server_formats_failures_with_its_traceback_module():
    source = provider_server_source()
    assert re.search(r"^import traceback$", source, re.M), "the provider server no longer imports traceback"
    abort = re.search(rf"^def {pulumi_sdk.PROVIDER_SERVER_ABORT}\(.*?(?=^\S)", source, re.M | re.S)
    assert abort, f"the provider server has no {pulumi_sdk.PROVIDER_SERVER_ABORT}"
    assert "traceback.format_exc()" in abort.group(0), "its abort no longer formats with traceback.format_exc()"


def test_format_provider_failures_with_replaces_the_servers_module_only(monkeypatch):
    server = types.ModuleType("__main__")  # as the provider server is, by the names the hook looks for
    server.traceback = sys.modules["traceback"]
    setattr(server, pulumi_sdk.PROVIDER_SERVER_ABORT, lambda fn: fn)
    monkeypatch.setitem(sys.modules, "__main__", server)
    replacement = object()
    assert pulumi_sdk.format_provider_failures_with(replacement)
    assert server.traceback is replacement and sys.modules["traceback"] is not replacement
    monkeypatch.setitem(sys.modules, "__main__", importlib.import_module("fkguard"))  # another process's main
    assert not pulumi_sdk.format_provider_failures_with(replacement)


def test_a_configure_request_keeps_the_whole_config_in_one_mapping():
    config = dynamic.Config({"postgresql:host": "db", "fkguard:lockTimeout": "3s"}, "fkguard")
    assert pulumi_sdk.provider_config(dynamic.ConfigureRequest(config)) == {"postgresql:host": "db",
                                                                            "fkguard:lockTimeout": "3s"}


def test_an_unselected_stack_is_a_stack_without_selecting_it(tmp_path):
    init = inspect.signature(Stack.__init__)
    assert list(init.parameters) == ["self", "name", "workspace", "mode"], "Stack.__init__'s parameters changed"
    source = inspect.getsource(Stack.__init__)
    assert all(f"self.{name} = " in source for name in ("name", "workspace", "_mode")), \
        "Stack.__init__ sets other attributes than name, workspace and _mode: unselected_stack must set them too"
    workspace = LocalWorkspace(work_dir=str(tmp_path), pulumi_home=str(tmp_path / "home"))
    stack = pulumi_sdk.unselected_stack("qa", workspace)
    assert isinstance(stack, Stack) and stack.name == "qa" and stack.workspace is workspace
    assert repr(stack).startswith("Stack(stack_name='qa'")


def test_no_other_module_reaches_into_a_private_name_of_the_sdk():
    pattern = re.compile(r"\._props\b|['\"]_props['\"]|automation\._|\bserver\.traceback|_abort_with_traceback")
    files = subprocess.run(["git", "ls-files", "fkguard", "resources", "policies", "__main__.py"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    offenders = [f"{name}:{number}" for name in files if name.endswith(".py") and name != "fkguard/stack/pulumi_sdk.py"
                 for number, line in enumerate((ROOT / name).read_text().splitlines(), 1)
                 if pattern.search(line) and "def " not in line and not line.lstrip().startswith("#")]
    assert not offenders, f"private SDK names outside fkguard/stack/pulumi_sdk.py: {offenders}"


def test_the_programs_end_drains_outputs_through_a_module_level_function_it_looks_up_by_name():
    from pulumi.runtime import stack

    drain = getattr(stack, pulumi_sdk.DRAIN)
    assert list(inspect.signature(drain).parameters) == ["await_all_outstanding_tasks"]
    assert re.search(rf"^\s+await {pulumi_sdk.DRAIN}\(\)$", inspect.getsource(stack.run_pulumi_func), re.M), \
        "run_pulumi_func no longer awaits the module-level drain by name: drain_outputs_at_once would not be used"
    source = inspect.getsource(getattr(drain, "__wrapped__", drain))  # the SDK's own, if a program here wrapped it
    assert "SETTINGS.outputs" in source, "the SDK's drain no longer reads SETTINGS.outputs"
    # When the SDK waits for its outputs otherwise than once per completion, drain_outputs_at_once may go.
    assert "FIRST_COMPLETED" in source, "the SDK's drain changed: see whether drain_outputs_at_once is still needed"


def test_drain_outputs_at_once_wraps_the_drain_once_and_leaves_a_failure_to_it(monkeypatch):
    import asyncio

    from pulumi.runtime import stack
    from pulumi.runtime.settings import SETTINGS

    calls = []

    async def original(await_all_outstanding_tasks=True):
        calls.append(sorted(t.done() for t in SETTINGS.outputs))

    monkeypatch.setattr(stack, pulumi_sdk.DRAIN, original)
    monkeypatch.setattr(SETTINGS, "outputs", set())
    assert pulumi_sdk.drain_outputs_at_once() and pulumi_sdk.drain_outputs_at_once()
    wrapped = getattr(stack, pulumi_sdk.DRAIN)
    assert wrapped is not original and wrapped.fkguard_drain and wrapped.__wrapped__ is original

    async def program(fail: bool) -> None:
        async def later(n: int) -> int:
            await asyncio.sleep(0.001 * n)
            if fail and n == 2:
                raise ValueError("a failed registration")
            if n == 1:  # an output that starts another while the drain waits
                SETTINGS.outputs.add(asyncio.ensure_future(later(3)))
            return n

        SETTINGS.outputs.update(asyncio.ensure_future(later(n)) for n in (1, 2, 5))
        await wrapped()

    asyncio.run(program(fail=False))
    assert calls[-1] == [True] * 4  # all four settled before the SDK's own drain ran
    SETTINGS.outputs.clear()
    asyncio.run(program(fail=True))
    assert False in calls[-1]  # the failure ended the wait with the 5 ms output pending: the SDK's drain takes over
