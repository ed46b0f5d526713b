"""`make chaos`: a campaign of faults over whole rollouts (bench.chaos_run), on a cluster of its own, bounded by
a seed and a count. Prints the table of bench.chaos_report and writes it to results/chaos-<time>/; a run that
does not converge keeps its folder there. Exit 0 when every run converged, 1 otherwise.

    python -m bench.chaos --runs 10 --seed 7 [--checkpoints on|off] [--scale 5000] [--kinds kill-pulumi,...]
    python -m bench.chaos --replay <a run's seed>
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from bench import chaos_faults, chaos_report, chaos_run, chaos_setup
from fkguard_testing import processes
from fkguard_testing.scratch import PROJECT

# The steps' usual durations at the default scale here (chaos.json records each run's): a fault's moment is a
# fraction of them, fixed so that a run's seed replays the same moment.
USUAL_S = {"add": 7.0, "validate": 7.0, "rollback": 2.5}


def say(message: str) -> None:
    print(f"chaos: {message}", file=sys.stderr, flush=True)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="how many runs (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="the campaign's seed: each run's is drawn from it")
    parser.add_argument("--replay", type=int, help="one run of this seed (a kept run's folder names it)")
    parser.add_argument("--checkpoints", choices=("on", "off", ""), default="",
                        help="PULUMI_SKIP_CHECKPOINTS=false (on) or true (off); unset: as scripts/env.sh's pulumi")
    parser.add_argument("--scale", type=int, default=5000, help="rows in the largest APMS table (default 5000)")
    parser.add_argument("--kinds", default=",".join(chaos_faults.KINDS), help="the fault kinds to draw from")
    parser.add_argument("--out", type=Path, help="where the report goes (default results/chaos-<time>)")
    args = parser.parse_args(argv)
    args.kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = [k for k in args.kinds if k not in chaos_faults.KINDS]
    if unknown or not args.kinds:
        parser.error(f"--kinds: unknown {', '.join(unknown) or '(none given)'}; use {', '.join(chaos_faults.KINDS)}")
    return args


def campaign(world: chaos_setup.World, args: argparse.Namespace, out: Path) -> list[chaos_run.Outcome]:
    rng = random.Random(args.seed)
    seeds = [args.replay] if args.replay is not None else [rng.randrange(2**31) for _ in range(args.runs)]
    keys = [(fk.tier, str(fk.table), str(fk.references)) for fk in world.catalog]
    outcomes = []
    for number, seed in enumerate(seeds, 1):
        outcome = chaos_run.one_run(world, number, chaos_faults.plan(seed, args.kinds, keys), USUAL_S)
        outcomes.append(outcome)
        say(chaos_report.describe(outcome))
        if not outcome.converged:
            again = (f"make chaos CHAOS_REPLAY={seed} CHAOS_SCALE={args.scale}"  # the same kinds: they are drawn from
                     + (f" CHAOS_KINDS={','.join(args.kinds)}" if args.kinds != chaos_faults.KINDS else "")
                     + (f" CHAOS_CHECKPOINTS={args.checkpoints}" if args.checkpoints else ""))
            say(f"kept in {chaos_report.keep(out, outcome, chaos_setup.PGDATA / 'server.log', again)}")
    return outcomes


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    out = args.out or PROJECT / "results" / f"chaos-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fkguard-chaos-") as folder:
        try:
            say(f"a cluster of its own on 127.0.0.1:{chaos_setup.PORT}, stack {chaos_setup.STACK}, scale {args.scale}")
            world = chaos_setup.make_world(Path(folder), args.scale, args.checkpoints)
            say(f"ready in {time.monotonic() - began:.1f} s; {args.runs if args.replay is None else 1} runs")
            outcomes = campaign(world, args, out)
        finally:
            processes.reap(Path(folder))
            chaos_setup.destroy()
    meta = {"when": when, "seed": args.seed, "runs": len(outcomes), "scale": args.scale,
            "checkpoints": args.checkpoints or "as scripts/env.sh's pulumi",
            "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    report = chaos_report.write(out, outcomes, meta)
    print(chaos_report.table(outcomes))
    print(chaos_report.timing(outcomes))
    say(f"report: {report}")
    return 0 if all(o.converged for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
