"""`fkguard audit -s STACK`: orphans per relationship of the catalog, with a sample of offending rows."""

from __future__ import annotations

import argparse
import json

from fkguard import audit, debt
from fkguard.commands import common

HELP = "orphans per relationship of the catalog, with a sample of offending rows (exit 1 when there are any)"


def add_parser(subparsers: common.Subparsers) -> argparse.ArgumentParser:
    sub = common.add_command(subparsers, "audit", HELP, run)
    sub.add_argument("--constraint", action="append", default=[], help="only this relationship (repeatable): "
                     "its name, or schema.table.name where keys of other tables share the name")
    sub.add_argument("--table", help="with --constraint: the key of that name on this table (schema.table)")
    sub.add_argument("--sample", type=int, default=5, help="offending rows shown per relationship (default 5)")
    sub.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_argument("--all-rows", action="store_true", help="stream every orphan row as JSON lines")
    sub.add_argument("--jobs", type=int, default=2, help="relationships scanned at once (default 2)")
    return sub


def run(args: argparse.Namespace) -> int:
    context = common.load_stack(args.stack)
    chosen = common.selected(context, args.constraint, args.table)
    with context.session() as conn:  # a standby is refused here, before the scans
        if args.all_rows:
            # Every orphan as one JSON line, streamed from a server-side cursor: flat memory.
            for fk in chosen:
                for row in audit.all_rows(conn, fk):
                    print(json.dumps({"constraint": fk.label, **row}))
            return 0
    found = audit.report(context.connection, chosen, context.debts, args.stack, args.sample, common.progress,
                         args.jobs)
    if args.json:
        _print_json(found, args.stack)
    else:
        _print_text(found, args.stack)
    return 1 if found.open_orphans else 0


def _print_json(found: audit.Report, stack: str) -> None:
    print(json.dumps({"stack": stack, "orphans": found.orphans, "orphans_not_accepted": found.open_orphans,
                      "seconds": round(found.seconds, 3),
                      "relationships": [{**f.as_json(), "accepted": found.accepted[f.fk.label].reason
                                         if f.fk.label in found.accepted else None,
                                         "stale_debt": found.stale.get(f.fk.label)} for f in found.findings]},
                     indent=2))


def _print_text(found: audit.Report, stack: str) -> None:
    accepted, stale, findings = found.accepted, found.stale, found.findings
    common.print_table(["constraint", "tier", "relationship", "orphans", "seconds", ""],
                       [[f.fk.label, f.fk.tier, f"{f.fk.table}.{','.join(f.fk.columns)} -> {f.fk.references}",
                         "n/a: " + f.note if f.orphans is None else f.orphans, f"{f.seconds:.2f}",
                         debt.label(accepted[f.fk.label]) if f.fk.label in accepted
                         else f"stale debt: {stale[f.fk.label]}" if f.fk.label in stale else ""] for f in findings])
    for f in findings:
        if f.sample:
            print(f"\n{f.fk.label}: {f.orphans} orphans, first {len(f.sample)}:")
            common.print_table(list(f.sample[0]), [list(r.values()) for r in f.sample])
    summary = (f"\n{stack}: {found.orphans} orphans in {sum(bool(f.orphans) for f in findings)} of {len(findings)} "
               f"relationships")
    if accepted:
        summary += f", {found.orphans - found.open_orphans} of them accepted as debt in {len(accepted)}"
    if found.open_orphans:
        summary += f". Next: fkguard remediate -s {stack}"
    if stale:
        summary += f". Debt no longer needed for {', '.join(stale)}: fkguard debt -s {stack} --prune"
    print(summary)
