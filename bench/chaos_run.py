"""One chaos run: a rollout on the stack `chaos` (add NOT VALID with the supporting indexes, validate, and
sometimes a rollback) through the policy gate, with one fault at a random moment of one step, the documented
recovery after it (docs/recovery.md), then the checks of bench.chaos_checks."""

from __future__ import annotations

import shlex
import subprocess
import time
from dataclasses import dataclass, field

from bench import chaos_checks, chaos_setup
from bench.chaos_faults import Injector, RunPlan
from bench.chaos_writer import ChaosWriter, forget
from fkguard.apms.generate import row_counts

STACK = chaos_setup.STACK
COMMAND_TIMEOUT_S = 300  # a pulumi command still running then hangs: the run does not converge
# The documented recovery of a killed `pulumi`, before the interrupted command runs again.
AFTER_A_KILL = (("cancel", "--yes", "--stack", STACK),
                ("refresh", "--yes", "--clear-pending-creates", "--stack", STACK, "--skip-plugin-pre-install"))


@dataclass
class Outcome:
    number: int
    plan: RunPlan
    fired: str = ""
    recovery: list[str] = field(default_factory=list)  # the commands the recovery took
    problems: list[str] = field(default_factory=list)
    stall_ms: float = 0.0
    seconds: float = 0.0
    step_seconds: dict[str, float] = field(default_factory=dict)  # the fault-free steps' durations
    log: list[str] = field(default_factory=list)  # every command with its output

    @property
    def converged(self) -> bool:
        return not self.problems


def step_command(world: chaos_setup.World, step: str, plan: RunPlan, outcome: Outcome) -> list[str] | None:
    """The pulumi command of a step (the arguments after `pulumi`); None when a rollback has nothing to do."""
    if step == "add":
        return ["up", "--stack", STACK, "--yes", *chaos_setup.GATE]
    if step == "validate":
        return ["up", "--stack", STACK, "--yes", *chaos_setup.GATE]
    # `fkguard rollback --print` says the pulumi destroy --target it would run; the campaign runs it itself
    # so that the pulumi it kills is that command's.
    printed = run_logged(world, outcome, ["fkguard", "rollback", "-s", STACK, "--tier", str(plan.rollback_tier),
                                          "--yes", "--print"])
    lines = [line for line in printed.stdout.splitlines() if line.startswith("fkguard rollback: pulumi ")]
    return shlex.split(lines[0].removeprefix("fkguard rollback: "))[1:] if lines else None


def start(world: chaos_setup.World, args: list[str]) -> subprocess.Popen:
    """A pulumi command as the user runs it (scripts/bin/pulumi), in a process group of its own."""
    return subprocess.Popen([str(world.user.cli), *args, "--non-interactive"], cwd=world.user.root,
                            env=world.user.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def finish(process: subprocess.Popen, outcome: Outcome, args: list[str]) -> tuple[int, str]:
    try:
        output, _ = process.communicate(timeout=COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        outcome.problems.append(f"pulumi {' '.join(args[:2])} hung for {COMMAND_TIMEOUT_S} s")
    outcome.log.append(f"$ pulumi {shlex.join(args)}  -> exit {process.returncode}\n{output}")
    return process.returncode, output


def run_logged(world: chaos_setup.World, outcome: Outcome, command: list[str]) -> subprocess.CompletedProcess[str]:
    """A fkguard or pulumi config command (not faulted), logged."""
    if command[0] == "fkguard":
        result = world.user.fkguard(*command[1:], check=False)
    else:
        result = world.user.run(*command[1:], check=False)
    outcome.log.append(f"$ {shlex.join(command)}  -> exit {result.returncode}\n{result.stdout}{result.stderr}")
    return result


def pulumi(world: chaos_setup.World, outcome: Outcome, args: list[str]) -> int:
    return finish(start(world, args), outcome, args)[0]


def faulted(world: chaos_setup.World, outcome: Outcome, step: str, usual_s: float) -> None:
    """The step with its fault, then the recovery docs/recovery.md gives for what the fault left."""
    fault = outcome.plan.fault
    if fault.kind.startswith("timeout-"):
        run_logged(world, outcome, ["pulumi", "config", "set", "fkguard:statementTimeout", f"{fault.timeout_ms}ms",
                                    "--stack", STACK])
    args = step_command(world, step, outcome.plan, outcome)
    if args is None:
        return
    process = start(world, args)
    injector = Injector(fault, process, world.conn, fault.at * usual_s)
    injector.start()
    code, output = finish(process, outcome, args)
    injector.cause_gone()
    outcome.fired = injector.fired
    if fault.kind.startswith("timeout-"):
        # fkguard names the setting that cut the statement (fkguard.operations); PostgreSQL's own words otherwise
        hit = "statementTimeout" in output or "statement timeout" in output
        outcome.fired = f"statement timeout ({fault.timeout_ms} ms) hit" if hit else ""
        run_logged(world, outcome, ["pulumi", "config", "rm", "fkguard:statementTimeout", "--stack", STACK])
    if code == 0 and not injector.killed_pulumi:
        return
    if not injector.killed_pulumi and again(world, outcome, step):  # failed, not killed: again, once the cause is gone
        return
    full_recovery(world, outcome, step)


def again(world: chaos_setup.World, outcome: Outcome, step: str) -> bool:
    """The step's command once more (a rollback's targets asked again: what is left of them)."""
    args = step_command(world, step, outcome.plan, outcome)
    if args is None:
        return True
    outcome.recovery.append(args[0])
    return pulumi(world, outcome, args) == 0


def full_recovery(world: chaos_setup.World, outcome: Outcome, step: str) -> None:
    """docs/recovery.md: make sure the old run is gone, pulumi cancel, refresh --clear-pending-creates, the
    interrupted command again."""
    hosts, others = chaos_checks.after_a_kill(world)
    if hosts:
        outcome.recovery.append("kill")
        outcome.log.append("the killed run's language host, ended by hand:\n" + "\n".join(hosts))
    outcome.problems += others
    for command in AFTER_A_KILL:
        outcome.recovery.append(command[0])
        pulumi(world, outcome, list(command))
    if not again(world, outcome, step):
        outcome.problems.append(f"the {step} step still fails after the documented recovery")


def one_run(world: chaos_setup.World, number: int, plan: RunPlan, usual_s: dict[str, float]) -> Outcome:
    outcome = Outcome(number, plan)
    began = time.monotonic()
    chaos_setup.reset(world)
    writer = ChaosWriter(world.conn, row_counts(world.scale)["workflow_instances"], interval=0.005,
                         prefix=f"run{number}")
    writer.start()
    try:
        steps(world, outcome, usual_s)
    finally:
        writer.stop()
    outcome.stall_ms = max((ms for _, ms in writer.samples), default=0.0)
    outcome.problems += chaos_checks.all_problems(world, writer, plan.rollback_tier)
    with world.conn.connect() as db:
        forget(db)
    outcome.seconds = time.monotonic() - began
    return outcome


def steps(world: chaos_setup.World, outcome: Outcome, usual_s: dict[str, float]) -> None:
    plan = outcome.plan
    for step in plan.steps:
        if step == "validate":
            run_logged(world, outcome, ["pulumi", "config", "set", "fkguard:validateTiers", "all", "--stack", STACK])
        if step == plan.fault.step:
            faulted(world, outcome, step, usual_s[step])
        elif (args := step_command(world, step, plan, outcome)) is not None:
            began = time.monotonic()
            if pulumi(world, outcome, args) != 0:
                outcome.problems.append(f"the {step} step failed in a run whose fault was elsewhere")
            outcome.step_seconds[step] = time.monotonic() - began
        if outcome.problems:
            return
