"""A `pulumi up` killed outright leaves no fkguard process and no fkguard session behind (fkguard.stack.engine).
Found by the chaos campaign (make chaos): the dynamic provider and the policy pack of a SIGKILLed pulumi waited
forever with their database sessions open, and the provider's ALTER TABLE went on retrying for a dead run."""

import os
import signal
import time

from fkguard.stack import engine
from fkguard_testing.fixtures import PROJECT
from tests.test_e2e_safety import Blocker, descendants, start_killable, tight, wait_for_fkguard_waiting  # noqa: F401

PULUMIS_OWN = ".tools/bin/pulumi-language-python "  # pulumi's language host: its own health check, every 5 minutes


def fkguard_sessions(conn) -> list[str]:
    return [f"{name}: {query}" for name, query in conn.execute(
        "SELECT application_name, left(query, 80) FROM pg_stat_activity "
        "WHERE application_name LIKE 'fkguard%%' AND pid <> pg_backend_pid()")]


def alive(pids: dict[int, str]) -> dict[int, str]:
    return {pid: command for pid, command in pids.items()
            if os.path.exists(f"/proc/{pid}") and " Z " not in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1][:3]}


def test_a_killed_pulumi_leaves_no_fkguard_process_and_no_session(tight, conn, pg):  # noqa: F811
    with Blocker(pg, "LOCK TABLE workflow_instances IN SHARE MODE"):
        process = start_killable(tight, "up", "--stack", "local", "--yes", "--skip-plugin-pre-install")
        wait_for_fkguard_waiting(conn)  # the provider is inside its ALTER TABLE's lock retries
        started = descendants(process.pid)
        commands = {pid: open(f"/proc/{pid}/cmdline").read().replace("\0", " ") for pid in started}
        os.kill(process.pid, signal.SIGKILL)  # pulumi alone, as the OOM killer does: not its process group
        process.wait(30)
        deadline = time.monotonic() + 15
        while ((left := {p: c for p, c in alive(commands).items() if PULUMIS_OWN not in c}) or fkguard_sessions(conn)) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
    for pid in alive(commands):  # pulumi's language host, which docs/recovery.md says to end
        os.kill(pid, signal.SIGKILL)
    assert not left, left
    assert not fkguard_sessions(conn)
    assert any("pulumi.dynamic" in c for c in commands.values()), commands  # the provider was there, and ended


def test_the_engine_address_of_each_process_fkguard_runs_in(tmp_path):
    program = tmp_path / "cmdline"
    program.write_bytes(b"\0".join([b"/p/.venv/bin/python", b"/c/bin/pulumi-language-python-exec", b"--monitor",
                                    b"127.0.0.1:1", b"--engine", b"127.0.0.1:4242", b"."]))
    assert engine.program_engine(program) == "127.0.0.1:4242"
    assert engine.program_engine(PROJECT / "README.md") is None
    assert engine.provider_engine(["/v/pulumi/dynamic/__main__.py", "127.0.0.1:4243"]) == "127.0.0.1:4243"
    assert engine.provider_engine(["-c"]) is None
    assert engine.pack_engine(["/p/policies", "127.0.0.1:4244"]) == "127.0.0.1:4244"
    assert engine.answers("127.0.0.1:1") is False  # nothing listens there: what a killed engine looks like
