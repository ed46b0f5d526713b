"""`fkguard monitor -s STACK`: the plan's Step 5.6, the rollout's effect on the workload since its baseline."""

from __future__ import annotations

import argparse
import json

from fkguard import monitor, replicas
from fkguard.commands import common
from fkguard.stack import state as stackstate

HELP = ("the plan's Step 5.6: statement latency, error rate and parent-side scans since the rollout's baseline, "
        "with the plan's verdict (exit 0 acceptable, 1 investigate, 3 rollback); and now: each standby's replay lag "
        "and the oldest open transaction")
EXIT = {monitor.ACCEPTABLE: 0, monitor.INVESTIGATE: 1, monitor.ROLLBACK: 3}


def add_parser(subparsers: common.Subparsers) -> argparse.ArgumentParser:
    sub = common.add_command(subparsers, "monitor", HELP, run)
    sub.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_argument("--min-calls", type=int, default=5, help="calls a statement needs, before and since (default 5)")
    sub.add_argument("--acceptable-ms", type=float, default=10.0, help="latency growth still acceptable (default 10)")
    sub.add_argument("--rollback-ms", type=float, default=20.0, help="latency growth that calls for a rollback "
                     "(default 20)")
    return sub


def run(args: argparse.Namespace) -> int:
    context = common.load_stack(args.stack)
    baseline = stackstate.recorded_output(args.stack, monitor.BASELINE_TYPE, "snapshot", context.project_dir)
    with context.session("fkguard-monitor") as conn:
        replication = replicas.replication(conn)
        # Shown even before a baseline: during the first rollout's VALIDATE, which is when it matters.
        if not baseline:
            print("\n".join(replication.lines(context.connection.username)))
            raise common.CommandError(f"stack {args.stack!r} has no monitoring baseline: it is taken by the rollout's "
                                      f"first `pulumi up` (fkguard:addTiers), before its first change")
        found = monitor.compare(conn, baseline, context.catalog, args.stack, min_calls=args.min_calls,
                                acceptable_ms=args.acceptable_ms, rollback_ms=args.rollback_ms, replication=replication,
                                max_replica_lag_ms=context.options.max_replica_lag_ms)
    if args.json:
        print(json.dumps(found.as_dict(), indent=2))
        return EXIT[found.verdict]
    print(f"{args.stack}: since the baseline of {found.since} ({found.source})")
    if found.statements:
        common.print_table(["mean before ms", "mean since ms", "delta ms", "calls since", "statement"],
                           [[r["mean_before_ms"], r["mean_since_ms"], f"{r['delta_ms']:+.3f}", r["calls_since"],
                             r["query"][:80]] for r in found.statements[:15]])
        print()
    for finding in found.findings:
        print(f"{finding.verdict}: {finding.what}")
    print("\nnow:")
    print("\n".join(f"  {line}" for line in replication.lines(context.connection.username)))
    print(f"\nverdict: {found.verdict} (the plan: up to +{args.acceptable_ms:g} ms acceptable, rollback above "
          f"+{args.rollback_ms:g} ms or an error rate up by more than {monitor.ERROR_RATE_POINTS:g} points)")
    if found.rollback_command:
        print(f"roll back with: {found.rollback_command}")
    return EXIT[found.verdict]
