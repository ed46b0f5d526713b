"""The benchmark's markdown report and chart, for a change ticket."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from bench.phase4 import verdict


def _ms(value: float) -> str:
    return f"{value:,.1f} ms"


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:,.1f}x" if theirs else "n/a (no write)"


def markdown(results: dict) -> str:
    meta = results["meta"]
    lines = [f"# fkguard benchmark, {meta['when']}", "",
             f"Machine: {meta['machine']}. PostgreSQL {meta['postgres']}. Data: {meta['rows']:,} rows "
             f"({meta['scale']:,} in the largest table), generated in {meta['generate_s']:.0f} s. Durability as in "
             f"production: {meta.get('durability', 'not recorded')}.", "",
             *stall_section(results["stall"]),
             "## 2. The audit against PostgreSQL's own validation", ""]
    v = results["validation"]
    lines += [f"Median of {v.get('runs', 1)} runs each.", "", "| | time |", "|---|---|",
              f"| `fkguard audit` of the 16 (2 at a time, largest first), the scans | {v['audit_in_db']:.2f} s |",
              f"| `fkguard audit` of the 16, whole command | {v['audit_wall']:.2f} s |",
              f"| VALIDATE CONSTRAINT of the 16 | {v['validate']:.2f} s |", "",
              f"Ratio of the scans: {v['ratio_in_db']:.2f} (goal: at most 0.6); whole command, with Python and "
              f"pulumi config: "
              f"{v['ratio_wall']:.2f}. Peak RSS of the audit: {v['audit_peak_rss_mib']} MiB.", "",
              "## 3. Pulumi's overhead", ""]
    o = results["overhead"]
    lines += [f"Median of {o.get('runs', 1)} runs each.", "", "| | pulumi up | psql |", "|---|---|---|",
              f"| no constraint | {o['empty']:.1f} s | |",
              f"| the plan's 16 | {o['16']:.1f} s | {o['psql_16']:.2f} s |",
              f"| 160 synthetic | {o['160']:.1f} s | {o['psql_160']:.2f} s |",
              f"| per constraint (marginal) | {o['marginal'] * 1000:.0f} ms | {o['psql_marginal'] * 1000:.1f} ms |",
              "", "What the 160 cost is made of:", "", "| 160 synthetic | pulumi up |", "|---|---|",
              f"| as above (`up` previews first) | {o['160']:.1f} s |",
              f"| `up --skip-preview` | {o['160_skip_preview']:.1f} s |",
              f"| `up --skip-preview` with `PULUMI_SKIP_CHECKPOINTS=true` | "
              f"{o['160_skip_preview_and_checkpoints']:.1f} s |", "",
              "The preview phase runs the program and every check once more; the file backend then "
              "rewrites the whole state after each step. Skipping checkpoints gives up the record of "
              "operations in flight that crash recovery reads (docs/recovery.md), so fkguard keeps them.",
              "", "## 4. The plan's Phase 4 table (p50 / p95, 200 runs each)", "",
              "| Operation | Baseline | With FKs | Overhead (p50) | Acceptable |", "|---|---|---|---|---|"]
    p4 = results["phase4"]
    for name, base in p4["baseline"].items():
        with_fk = p4["with_fks"][name]
        overhead = with_fk["p50"] - base["p50"]
        lines.append(f"| {name} | {base['p50']:.2f} / {base['p95']:.2f} ms | {with_fk['p50']:.2f} / "
                     f"{with_fk['p95']:.2f} ms | {overhead:+.2f} ms | {verdict(overhead)} |")
    lines += ["", "Load test (the plan's Step 4.3, with the 16 foreign keys validated):", "",
              "| test | average | p95 | p99 | errors | throughput |", "|---|---|---|---|---|---|"]
    for name, r in p4["load"].items():
        lines.append(f"| {name} | {_ms(r['avg'])} | {_ms(r['p95'])} | {_ms(r['p99'])} | {r['errors']} | "
                     f"{r['tps']:,.0f} tx/s |")
    lines += parent_side(results.get("parent") or [])
    lines += catalog_scale(results.get("scale") or [])
    lines += state_backends(results.get("backends") or [])
    lines += ["", "## 5. Query plans of the lookup by key (Phase 4.4)", "",
              "| constraint | indexed | plan | to add |", "|---|---|---|---|"]
    for p in results["plans"]:
        lines.append(f"| {p['constraint']} | {'yes' if p['indexed'] else 'no'} | {p['plan']} | "
                     f"{('`' + p['fix'] + '`') if p['fix'] else ''} |")
    return "\n".join(lines) + "\n"


def stall_section(stall: dict) -> list[str]:
    """Section 1: the writer's latency during each rollout, and what stalled it outside the lock windows."""
    lines = ["## 1. The writer's stall while the 16 constraints go in", "",
             "A writer inserts into workflow_stages and updates workspaces every 5 ms. \"Whole rollout\" is every "
             "write while the rollout ran; \"while locking\" is the writes in flight while a lock-taking statement "
             "held or queued for its lock (for psql, its whole run; for fkguard, the windows its provider "
             "traced with FKGUARD_LOCK_TRACE). The control runs `pulumi up` of as many no-op dynamic resources "
             "(no SQL, no lock): what the writer suffers there is the machine's, not fkguard's statements'.", "",
             "| rollout | took | whole rollout: writes / p50 / p99 / max | lock windows (total) | while locking: "
             "writes / p99 / max | checkpoints | slowest writes outside lock windows (at s: ms) |",
             "|---|---|---|---|---|---|---|"]
    for name, r in stall.items():
        locked = r["locked"]
        slow = ", ".join(f"{at:.1f}: {ms:.0f}" for at, ms in r.get("slowest_outside") or []) or "none"
        lines.append(f"| {name} | {r['seconds']:.2f} s | {r['n']} / {_ms(r['p50'])} / {_ms(r['p99'])} / "
                     f"{_ms(r['max'])} | {r['lock_windows']} ({r['lock_seconds'] * 1000:,.0f} ms) | "
                     f"{locked['n']} / {_ms(locked['p99'])} / {_ms(locked['max'])} | {r.get('checkpoints', '')} | "
                     f"{slow} |")
    bare, ours = stall["bare NOT VALID (psql)"], stall["fkguard (pulumi up)"]
    naive = stall["naive ADD FK (psql)"]
    lines += ["", f"While locking, fkguard's worst write took {_ratio(ours['locked']['max'], bare['locked']['max'])} "
                  f"the bare statements' (goal: at most 3x); the naive ADD FOREIGN KEY's, "
                  f"{_ratio(naive['locked']['max'], bare['locked']['max'])}. Over the whole rollout, which on this "
                  f"machine shares its cores between the database and the Pulumi engine, fkguard's worst write "
                  f"took {_ratio(ours['max'], bare['max'])} the bare statements'."]
    control = stall.get("control: no-op pulumi up (no SQL)")
    if control:
        worst_outside = max([ms for _, ms in ours.get("slowest_outside") or []], default=0.0)
        lines += ["", f"Outside its lock windows fkguard's worst write took {_ms(worst_outside)}; "
                      f"during the control (the same engine and state checkpoints, no SQL) the worst took "
                      f"{_ms(control['max'])} ({_ratio(control['max'], bare['max'])} the bare statements'), with "
                      f"{control.get('checkpoints', 0)} PostgreSQL checkpoint(s) during it and {ours.get('checkpoints', 0)} "
                      f"during fkguard's. Where the control's worst is of the same order, the whole-rollout outlier is the "
                      f"machine's (Pulumi and PostgreSQL sharing its cores and disk), not a statement of fkguard's."]
    return lines + [""]


def parent_side(runs: list[dict]) -> list[str]:
    """The Phase 4 table's referenced side: parent deletes and key updates, three ways, per scale."""
    lines: list[str] = []
    for run in runs:
        lines += ["", f"Parent side at {run['rows']:,} rows in workflow_stage_actions (each in a transaction rolled "
                      f"back; p50 / p95 / max over n runs; fkguard built {len(run['indexes_built'])} supporting "
                      f"indexes CONCURRENTLY in {run['index_build_s']:.0f} s):", "",
                  "| Operation | what the keys do | no FKs (baseline) | FKs, no index | FKs + fkguard's indexes | "
                  "p95 vs baseline, indexed (goal: at most 2x) | unindexed | Acceptable (indexed / unindexed) |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, r in run["ops"].items():
            base, bare, ours = r["baseline"], r["fks_no_index"], r["fks_with_index"]

            def cell(m: dict) -> str:
                return f"{m['p50']:.2f} / {m['p95']:.2f} / {m['max']:.2f} ms (n={m['n']})"

            lines.append(f"| {name} | {r['what']} | {cell(base)} | {cell(bare)} | {cell(ours)} | "
                         f"{_ratio(ours['p95'], base['p95'])} | {_ratio(bare['p95'], base['p95'])} | "
                         f"{verdict(ours['p50'] - base['p50'])} / {verdict(bare['p50'] - base['p50'])} |")
    return lines


def _catalog(r: dict) -> str:
    """A row's name: its size, and the schema file its keys are from (none: synthetic)."""
    if r.get("split"):
        return f"{r['n']:,} synthetic, split into {r['split']} stacks by schema (fkguard fleet, {r['parallel']} at a time)"
    return f"{r['schema']}: {r['n']:,}" if r.get("schema") else f"{r['n']:,} synthetic"


def _mib(r: dict, key: str, role: str) -> str:
    kib = (r.get(f"{key}_mem") or {}).get(role)
    return f"{kib / 1024:,.0f}" if kib else "…"


def _waits(r: dict) -> str:
    """One row of what a team waits for and the memory it needs, beside the one-property no-op yardstick."""
    def seconds(key: str) -> str:
        return f"{r[key]:.1f} s" if key in r else "…"

    resources = f" ({r['resources']:,})" if "resources" in r else ""
    state = f"{r['state_bytes'] / 1e6:.2f} MB" if "state_bytes" in r else "…"
    return (f"| {_catalog(r)} | {r['n']:,}{resources} | {seconds('gated_preview_create_s')} | {seconds('gated_up_add_s')} | "
            f"{seconds('gated_up_nochange_s')} | {seconds('gated_up_nochange_skip_preview_s')} | "
            f"{seconds('plain_up_nochange_s')} | {seconds('preview_s')} | "
            f"{_mib(r, 'gated_up_add_s', 'engine')} / {_mib(r, 'gated_up_nochange_s', 'engine')} | "
            f"{_mib(r, 'gated_up_add_s', 'program')} / {_mib(r, 'gated_up_nochange_s', 'program')} | "
            f"{_mib(r, 'gated_up_add_s', 'pack')} | {r.get('gated_preview_create_sessions', '…')} / "
            f"{r.get('gated_preview_sessions', '…')} | {state} | {seconds('noop_up_s')} | "
            f"{_ratio(r['gated_up_add_s'], r['noop_up_s']) if 'gated_up_add_s' in r and 'noop_up_s' in r else '…'} |")


def catalog_scale(sizes: list[dict]) -> list[str]:
    """The gate's cost as the catalog grows, beside N dynamic resources that do nothing."""
    if not sizes:
        return []
    lines = ["", "## 6. The catalog's scale and the gate's cost", "",
             "Synthetic constraints over small indexed tables, and real schemas' declared keys (a schema file loaded "
             "into a database of its own, its keys dropped, its empty tables filled with rows that satisfy them), "
             "through the policy pack (\"gated\"), once each. Peak resident memory (MiB) is the largest VmHWM of the "
             "`pulumi` engine process, of the Python process running the program's __main__.py, and of the policy "
             "pack's, sampled from /proc every 0.1 s while the command ran (bench/memory.py). Sessions: database "
             "sessions a gated preview opened. The yardstick is `pulumi up` of as many dynamic resources of one "
             "property whose provider does nothing. A row split into K stacks is the catalog of the row above it "
             "split by schema across K stacks of the one database (fkguard:schemas) and run by `fkguard fleet up`, "
             "each stack through the gate: its times are the whole fleet command's, its memory the largest stack's.", "",
             "| catalog | keys (resources) | gated preview, all to create | gated up, add NOT VALID | gated up, no change "
             "| the same, --skip-preview | plain up, no change (no pack) | plain preview, no change | engine peak MiB, "
             "add / no change | program peak MiB, add / no change | pack peak MiB, add | sessions, gated preview: "
             "create / no change | state | no-op up, same count | gated add / no-op |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
             *[_waits(r) for r in sizes], "",
             "The same rows against the no-op yardstick: of one property, and shaped like the keys (their properties, "
             "values of the same size), which tells what Pulumi charges for a resource holding a key's definition "
             "from what fkguard's parts add.", "",
             "| constraints | gated up (add) | per constraint | no-op up, per resource | ratio (goal at 1,000: "
             "at most 1.3x) | preview | gated preview | gated / plain | gated up, no change | sessions per "
             "gated preview | state (no-op's) | no-op up, no change | key-shaped no-op up, per resource | ratio to it "
             "| key-shaped no-op's state | key-shaped no-op preview with a no-op pack / plain (Pulumi's floor for the "
             "gated / plain ratio) |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sizes:
        n = r["n"]

        def seconds(key: str, r: dict = r) -> str:  # a row cut short shows what it measured, "…" for the rest
            return f"{r[key]:.1f} s" if key in r else "…"

        def per(key: str, r: dict = r, n: int = n) -> str:
            return f"{r[key] / n * 1000:.0f} ms" if key in r else "…"

        def ratio(a: str, b: str, r: dict = r) -> str:
            return _ratio(r[a], r[b]) if a in r and b in r else "…"

        def megabytes(key: str, r: dict = r) -> str:
            return f"{r[key] / 1e6:.2f} MB" if key in r else "…"

        lines.append(f"| {_catalog(r)} | {seconds('gated_up_add_s')} | {per('gated_up_add_s')} | {per('noop_up_s')} | "
                     f"{ratio('gated_up_add_s', 'noop_up_s')} | {seconds('preview_s')} | {seconds('gated_preview_s')} | "
                     f"{ratio('gated_preview_s', 'preview_s')} | {seconds('gated_up_nochange_s')} | "
                     f"{r.get('gated_preview_sessions', '…')} | {megabytes('state_bytes')} ({megabytes('noop_state_bytes')}) | "
                     f"{seconds('noop_up_nochange_s')} | {per('keyshaped_up_s')} | {ratio('gated_up_add_s', 'keyshaped_up_s')} | "
                     f"{megabytes('keyshaped_state_bytes')} | {ratio('keyshaped_preview_pack_s', 'keyshaped_preview_s')} |")
    return lines


def state_backends(rows: list[dict]) -> list[str]:
    """The file backend beside the postgres one (the team's shared state), per catalog size."""
    if not rows:
        return []
    lines = ["", "## 7. The state backend: file and PostgreSQL", "",
             "A gated `pulumi up` adding the constraints, then one with nothing to change; the DIY backends rewrite "
             "the whole state after every step.", "",
             "| constraints | backend | gated up (add) | gated up, no change | state |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['n']:,} | {r['backend']} | {r['gated_up_add_s']:.1f} s | {r['gated_up_nochange_s']:.1f} s | "
                     f"{r['state_bytes'] / 1e6:.2f} MB |")
    return lines


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    p4 = results["phase4"]
    names = list(p4["baseline"])
    xs = range(len(names))
    left.bar([x - 0.2 for x in xs], [p4["baseline"][n]["p50"] for n in names], 0.4, label="baseline")
    left.bar([x + 0.2 for x in xs], [p4["with_fks"][n]["p50"] for n in names], 0.4, label="with the 16 FKs")
    left.set_xticks(list(xs), names, rotation=15)
    left.set_ylabel("p50 latency (ms)")
    left.set_title("Phase 4: latency with and without foreign keys")
    left.legend()
    for name, r in results["stall"].items():
        points = [(at - r["start"], ms) for at, ms in r["samples"]]
        line, = right.plot([p[0] for p in points], [p[1] for p in points], label=name, linewidth=0.8)
        if name.startswith("fkguard"):  # where its provider held or queued for a lock
            for start, end in r["windows"]:
                right.axvspan(start - r["start"], max(end - r["start"], start - r["start"] + 0.01),
                              color=line.get_color(), alpha=0.25, linewidth=0)
    right.set_yscale("log")
    right.set_xlabel("seconds since the rollout began")
    right.set_ylabel("writer latency (ms, log)")
    right.set_title("A writer every 5 ms while the 16 constraints go in")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def scale_chart(sizes: list[dict], path: Path) -> None:
    """Section 6 as a curve: what one constraint costs as the catalog grows, beside one no-op resource; a real
    schema's row as points of its own (its shape is not the synthetic curve's)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label in (("gated_up_add_s", "fkguard: gated up adding them"), ("noop_up_s", "no-op resources: up"),
                       ("keyshaped_up_s", "no-op resources shaped like a key: up"),
                       ("gated_up_nochange_s", "fkguard: gated up, nothing to change"),
                       ("noop_up_nochange_s", "no-op resources: up, nothing to change")):
        points = [(r["n"], r[key] / r["n"] * 1000) for r in sizes if key in r and not r.get("schema")
                  and not r.get("split")]
        if points:
            ax.plot([n for n, _ in points], [ms for _, ms in points], marker="o", label=label)
    for r in sizes:
        for key, marker in (("gated_up_add_s", "*"), ("gated_up_nochange_s", "x")):
            if (r.get("schema") or r.get("split")) and key in r:
                name = r.get("schema") or f"split into {r['split']} stacks"
                ax.scatter([r["n"]], [r[key] / r["n"] * 1000], marker=marker, s=80,
                           label=f"{name}: gated up, {'adding them' if key == 'gated_up_add_s' else 'no change'}")
    ax.set_xscale("log")
    ax.set_xlabel("constraints (resources)")
    ax.set_ylabel("ms per constraint (resource)")
    ax.set_title("The catalog's scale: cost per constraint")
    if ax.get_legend_handles_labels()[0]:  # a run cut short after its first measure has nothing to draw yet
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def checkpoints() -> str:
    """Whether the engine wrote the state after every step in this run (scripts/env.sh skips them by default)."""
    skipped = os.environ.get("PULUMI_SKIP_CHECKPOINTS", "").lower() in ("1", "true")
    return "skipped (PULUMI_SKIP_CHECKPOINTS=true, scripts/env.sh's default)" if skipped else "written after every step"


def machine() -> str:
    cpus = Path("/proc/cpuinfo").read_text().count("processor\t:") if Path("/proc/cpuinfo").exists() else "?"
    mem = next((int(line.split()[1]) // 1024 // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0) if Path("/proc/meminfo").exists() else 0
    return f"{platform.system()} {platform.machine()}, {cpus} cores, {mem} GiB"
