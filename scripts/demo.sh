#!/usr/bin/env bash
# The whole rollout on the local stack, as FK_EXECUTION_PLAN.md runs it, with every step visible:
# the policy gate stopping a rollout over planted orphans, the audit, the remediation, preview,
# add NOT VALID, verify, validate tier by tier, roll back one tier.
# It sets fkguard:validateTiers with `pulumi config set` as a user would, and puts
# Pulumi.local.yaml back as it found it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
SCALE=${SCALE:-20000}
ORPHANS=${ORPHANS:-3}
stack=local
gate=(--policy-pack policies --policy-pack-config policy-config.$stack.json)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
timed() { local started=$SECONDS; "$@"; echo "(took $((SECONDS - started))s)"; }
# pulumi up through the gate, showing the outcome and the policy summary rather than every line.
gated_up() {
  local log=.pulumi-state/demo-up.log started=$SECONDS
  pulumi up -s $stack --yes --non-interactive --skip-plugin-pre-install --suppress-outputs "${gate[@]}" >$log 2>&1 \
    || { cat $log; return 1; }
  grep -E '^ [+~-]  pulumi-python.*(created|updated|deleted)|^    [+~-] [0-9]+ |Duration' $log | sed 's/ (\([0-9.]*s\)) *$//'
  echo "policies: $(grep '\[advisory\]' $log | sort -u | wc -l) advisory notes (referencing-index), 0 mandatory violations"
  echo "(took $((SECONDS - started))s)"
}

cp Pulumi.local.yaml .pulumi-state/Pulumi.local.yaml.before-demo
trap 'cp .pulumi-state/Pulumi.local.yaml.before-demo Pulumi.local.yaml' EXIT

step "Start clean: drop what an earlier demo left (pulumi destroy), then fill the APMS schema"
pulumi destroy -s $stack --yes --non-interactive --skip-plugin-pre-install >/dev/null
pulumi config rm fkguard:validateTiers -s $stack 2>/dev/null || true
fkguard seed -s $stack --scale "$SCALE" --orphans "$ORPHANS"
# Statement latency for fkguard monitor (Step 5.6): the local cluster preloads the library.
scripts/pg.sh psql -q -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null

if [ "$ORPHANS" -gt 0 ]; then
  step "The gate: pulumi up with the policy pack, over $ORPHANS planted orphans per relationship"
  if pulumi up -s $stack --yes --non-interactive --skip-plugin-pre-install "${gate[@]}" >.pulumi-state/gated.log 2>&1; then
    echo "the policy pack let the rollout through over orphans" >&2; exit 1
  fi
  grep -A2 -m3 "mandatory\]  orphan-gate" .pulumi-state/gated.log | cut -c1-400
  echo "... $(grep -c 'mandatory\]  orphan-gate' .pulumi-state/gated.log) constraints blocked; pulumi up stopped with nothing applied:"
  fkguard status -s $stack | tail -1

  step "Phase 1: the orphan audit (one anti-join per relationship, the predicate VALIDATE uses)"
  fkguard audit -s $stack --sample 2 2>/dev/null | head -40 || true
  fkguard audit -s $stack --sample 0 2>/dev/null | tail -1 || true

  step "Remediation: set the key to NULL where the column allows it, delete the rest; rows are quarantined first"
  fkguard remediate -s $stack --action nullify --yes \
    --constraint fk_vendor_master_workspace --constraint fk_approval_policy_master_workspace
  fkguard remediate -s $stack --action delete --yes --all
  fkguard remediate -s $stack --list
fi

step "Phase 2: pulumi preview with the policy pack shows each constraint's SQL and locks before anything runs"
pulumi preview -s $stack --non-interactive --skip-plugin-pre-install --suppress-outputs "${gate[@]}" \
  | grep -E '^ \+  |Policies|fkguard@|\[(advisory|mandatory)\]|to create' | sed -n '1,30p'
echo "  ..."
echo "The SQL each create will run, from pulumi preview --json:"
pulumi preview -s $stack --non-interactive --skip-plugin-pre-install --json | python3 -c '
import json, sys
for step in json.load(sys.stdin).get("steps", []):
    for line in (step.get("newState") or {}).get("inputs", {}).get("plannedSql") or []:
        print("  " + line)'

step "Phase 3: pulumi up builds the 11 missing supporting indexes CONCURRENTLY (adopts the 5 that exist), then adds the 16 constraints NOT VALID (brief locks, no scan)"
gated_up
fkguard status -s $stack
step "Phase 3.5: fkguard verify - the runbook counts and the Phase 3.3 behaviours, in a rolled-back transaction"
fkguard verify -s $stack > .pulumi-state/verify.log || { cat .pulumi-state/verify.log; exit 1; }
sed -n "1,9p;\$p" .pulumi-state/verify.log

for tiers in critical critical,high critical,high,medium all; do
  step "Validate tiers: $tiers (pulumi config set fkguard:validateTiers $tiers; pulumi up)"
  pulumi config set fkguard:validateTiers "$tiers" -s $stack
  gated_up
done
step "Every constraint validated"
fkguard status -s $stack

step "Step 5.6: fkguard monitor - latency, error rate and parent-side scans since the rollout's baseline"
fkguard monitor -s $stack || true  # exit 1 investigate, 3 rollback: shown here, not a failure of the demo

step "Rollback: the low tier, with pulumi destroy --target (fkguard rollback prints the command it runs)"
timed fkguard rollback -s $stack --tier low --yes
fkguard status -s $stack
echo
echo "The low tier is dropped and the stack records it. The next pulumi up adds it back, since the"
echo "stack's fkguard:addTiers still lists it; to keep it out, remove it from fkguard:addTiers."
