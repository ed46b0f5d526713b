"""The chaos campaign's table (fault kind x runs x converged x recovery commands x worst writer stall), and
the folder a run that did not converge leaves: its seed, its problems, every command's output."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from bench.chaos_faults import KINDS
from bench.chaos_run import Outcome

HEADER = ("| fault | runs | fired | converged | recovery commands needed (runs) | worst writer stall |\n"
          "|---|---|---|---|---|---|")


def recovery_text(outcomes: list[Outcome]) -> str:
    counts = Counter("+".join(o.recovery) or "none" for o in outcomes)
    return ", ".join(f"{k} ({n})" for k, n in sorted(counts.items(), key=lambda kv: (len(kv[0]), kv[0])))


def table(outcomes: list[Outcome]) -> str:
    rows = [HEADER]
    for kind in KINDS:
        mine = [o for o in outcomes if o.plan.fault.kind == kind]
        if not mine:
            continue
        fired = sum(bool(o.fired) for o in mine)
        converged = sum(o.converged for o in mine)
        rows.append(f"| {kind} | {len(mine)} | {fired} | {converged} | {recovery_text(mine)} | "
                    f"{max(o.stall_ms for o in mine):,.0f} ms |")
    converged = sum(o.converged for o in outcomes)
    rows.append(f"| **all** | {len(outcomes)} | {sum(bool(o.fired) for o in outcomes)} | {converged} | | "
                f"{max((o.stall_ms for o in outcomes), default=0):,.0f} ms |")
    return "\n".join(rows)


def timing(outcomes: list[Outcome]) -> str:
    seconds = [o.seconds for o in outcomes]
    return (f"{len(seconds)} runs in {sum(seconds) / 60:.1f} min: {statistics.median(seconds):.1f} s per run "
            f"(median; fastest {min(seconds):.1f} s, slowest {max(seconds):.1f} s)") if seconds else "no runs"


def describe(outcome: Outcome) -> str:
    fault = outcome.plan.fault
    where = f"{fault.kind} in {fault.step} at {fault.at:.0%}"
    verdict = "converged" if outcome.converged else "NOT CONVERGED: " + "; ".join(outcome.problems)
    return (f"run {outcome.number} (seed {outcome.plan.seed}): {where}, {outcome.fired or 'did not fire'}; "
            f"recovery: {'+'.join(outcome.recovery) or 'none'}; stall {outcome.stall_ms:,.0f} ms; "
            f"{outcome.seconds:.1f} s; {verdict}")


def keep(folder: Path, outcome: Outcome, server_log: Path, reproduce: str) -> Path:
    """A run that did not converge: its logs and the seed that reproduces it, in a folder of its own."""
    kept = folder / f"run-{outcome.number}-seed-{outcome.plan.seed}"
    kept.mkdir(parents=True, exist_ok=True)
    (kept / "commands.log").write_text("\n\n".join(outcome.log))
    (kept / "outcome.json").write_text(json.dumps({
        "reproduce": reproduce, "plan": asdict(outcome.plan),
        "fired": outcome.fired, "recovery": outcome.recovery, "problems": outcome.problems,
        "stall_ms": outcome.stall_ms, "seconds": outcome.seconds}, indent=2))
    if server_log.exists():
        (kept / "server.log").write_text("\n".join(server_log.read_text(errors="replace").splitlines()[-400:]))
    return kept


def write(folder: Path, outcomes: list[Outcome], meta: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"# fkguard chaos campaign, {meta['when']}", "", ", ".join(f"{k}: {v}" for k, v in meta.items()), "",
             table(outcomes), "", timing(outcomes), "", *(f"- {describe(o)}" for o in outcomes)]
    (folder / "chaos.md").write_text("\n".join(lines) + "\n")
    (folder / "chaos.json").write_text(json.dumps({"meta": meta, "runs": [
        {"plan": asdict(o.plan), "fired": o.fired, "recovery": o.recovery, "problems": o.problems,
         "stall_ms": o.stall_ms, "seconds": o.seconds, "step_seconds": o.step_seconds} for o in outcomes]}, indent=2))
    return folder / "chaos.md"
