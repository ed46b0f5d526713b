"""fkguard's Pulumi program: the catalog's foreign keys for this stack's database.

Which tiers exist and which are validated is the stack's config (fkguard:addTiers,
fkguard:validateTiers). Each tier depends on the gate of the tier before it, which depends on all of
that tier, so tiers go in the plan's order; the provider runs one ALTER TABLE (add, validate or
drop) at a time.

A key whose catalog entry says `index: auto` (the default) or `required` depends on a SupportingIndex
(resources/supporting_index.py), built CONCURRENTLY before the key is added, unless a valid index that is
not fkguard's already leads with its columns: that one serves, fkguard never drops it, and a resource for it
would only cost (Pulumi's engine pays for every resource at every step). The program asks the database
which, in one query. Keys on the same columns of the same table share one.
"""

import os
from pathlib import Path

import pulumi
from pulumi.runtime.config import CONFIG

from fkguard import debt, indexes, introspect
from fkguard.catalog import TIERS, formerly_named
from fkguard.desired import VALIDATED, desired
from fkguard.errors import EXPECTED, describe
from fkguard.stack import engine, project, pulumi_sdk
from fkguard.stack import secrets as stack_secrets
from fkguard.stack.config import StackConfig
from resources.backup import TableBackup
from resources.baseline import MonitorBaseline
from resources.foreign_key import ForeignKeyConstraint
from resources.supporting_index import SupportingIndex
from resources.tier_gate import TierGate

pulumi_sdk.drain_outputs_at_once()  # the SDK's own drain costs the square of the keys' outputs
engine.watch(engine.program_engine())  # a killed pulumi leaves no program waiting for it (fkguard.stack.engine)
try:
    # A real stack opened with the local stack's public passphrase must not deploy (fkguard.stack.secrets).
    stack_secrets.env_for(pulumi.get_stack(), os.environ, project.working_folder())
    stack_config = StackConfig(CONFIG.get(), f"stack {pulumi.get_stack()!r}")
    options = stack_config.options
    catalog = stack_config.part().owned  # the keys this stack owns: all, unless fkguard:schemas / fkguard:tiers split it
    ledger = debt.Ledger.load(project.working_folder())
except EXPECTED as exc:
    raise pulumi.RunError(describe(exc)) from None  # one line, not a traceback of this program

states: dict[str, pulumi.Output[str] | str] = {}
previous_tier: list[pulumi.Resource] = []
added = [fk for fk in catalog if fk.tier in options.add_tiers]
touched = sorted({fk.table for fk in added} | {fk.references for fk in added}, key=str)
if options.backup and added:
    # The plan's Step 5.1: a dump of every table the rollout touches, before its first change.
    backup = TableBackup("pre-change-backup", touched, Path(options.backup_dir).resolve(), pulumi.get_stack())
    previous_tier = [backup]
    pulumi.export("backup", {"path": backup.path, "rows": backup.rows})
if added:
    # The plan's Step 5.6: `fkguard monitor` compares against statistics taken before the first change,
    # and after the dump, whose reads they would otherwise count.
    previous_tier = [MonitorBaseline("monitor-baseline", touched, pulumi.ResourceOptions(depends_on=previous_tier))]
try:
    wanted = list(dict.fromkeys(indexes.Wanted(fk.table, fk.columns) for fk in added if fk.index != "none"))
    shared_names = [(fk.table, fk.name) for fk in added if fk.label != fk.name]
    served_already: set[indexes.Wanted] = set()
    present: set = set()
    if wanted or shared_names:
        with stack_config.connection.connect(application_name="fkguard-program") as conn:
            served_already = indexes.unmanaged(conn, wanted)
            present = introspect.constraints_present(conn, shared_names)
    # A stack written before a name was shared knows that key by its bare name: carry it over, not replace it.
    former = formerly_named(added, present)
except EXPECTED as exc:
    raise pulumi.RunError(describe(exc)) from None
finished: tuple[str, list[pulumi.Resource]] | None = None  # the last tier with constraints, not yet gated
supporting: dict[tuple[object, tuple[str, ...]], SupportingIndex] = {}  # (table, columns in any order) -> index
for tier in TIERS:
    this_tier: list[pulumi.Resource] = []
    for fk in (fk for fk in catalog if fk.tier == tier):
        if tier not in options.add_tiers:
            states[fk.label] = "absent"
            continue
        if finished:
            # Only a tier something comes after gets a gate: the last tier's constraints keep no
            # dependent, so `pulumi destroy --target` takes them alone.
            previous_tier, finished = [TierGate(*finished)], None
        goal = desired(fk, options, ledger.accepted(fk, pulumi.get_stack()))
        wanted = goal.state == VALIDATED
        needs: list[pulumi.Resource] = list(previous_tier)
        if fk.index != "none" and indexes.Wanted(fk.table, fk.columns) not in served_already:
            key = (fk.table, tuple(sorted(fk.columns)))
            if key not in supporting:
                served = [k.label for k in added if k.index != "none" and (k.table, tuple(sorted(k.columns))) == key]
                supporting[key] = SupportingIndex(fk, served, pulumi.ResourceOptions(depends_on=previous_tier))
            needs.append(supporting[key])
        aliases = [pulumi.Alias(name=former[fk])] if fk in former else None
        constraint = ForeignKeyConstraint(fk, wanted, pulumi.ResourceOptions(depends_on=needs, aliases=aliases))
        if goal.why:
            pulumi.log.info(f"stays NOT VALID while tier {tier} validates: {goal.why}", resource=constraint)
        for waiver in fk.waivers:
            pulumi.log.info(f"policy {waiver}", resource=constraint)
        if not wanted:
            # PostgreSQL cannot un-validate a constraint: say so instead of pretending.
            kept = goal.why or "its tier is not in fkguard:validateTiers"
            constraint.convalidated.apply(lambda done, c=constraint, kept=kept: done and pulumi.log.warn(
                f"validated in the database although {kept}: PostgreSQL cannot un-validate a constraint, so it "
                f"stays validated", resource=c))
        states[fk.label] = constraint.state
        this_tier.append(constraint)
    if this_tier:
        finished = (tier, this_tier)

pulumi.export("constraints", states)
pulumi.export("tiers", {
    tier: "another stack's" if tier not in options.selection.tiers else
    "validate" if tier in options.validate_tiers else ("add" if tier in options.add_tiers else "absent")
    for tier in TIERS
})
postgresql = pulumi.Config("postgresql")
pulumi.export(
    "database",
    f"{postgresql.get('username')}@{postgresql.get('host')}:{postgresql.get('port') or 5432}/{postgresql.get('database')}",
)
