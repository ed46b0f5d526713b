#!/usr/bin/env bash
# The whole rollout on the local stack, as FK_EXECUTION_PLAN.md runs it, with every step visible:
# preview, add NOT VALID, validate tier by tier, states, roll back one tier, states again.
# It sets fkguard:validateTiers with `pulumi config set` as a user would, and puts
# Pulumi.local.yaml back as it found it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
SCALE=${SCALE:-20000}
ORPHANS=${ORPHANS:-0}
stack=local

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
timed() { local started=$SECONDS; "$@"; echo "(took $((SECONDS - started))s)"; }

cp Pulumi.local.yaml .pulumi-state/Pulumi.local.yaml.before-demo
trap 'cp .pulumi-state/Pulumi.local.yaml.before-demo Pulumi.local.yaml' EXIT

step "Start clean: drop what an earlier demo left (pulumi destroy), then fill the APMS schema"
pulumi destroy -s $stack --yes --non-interactive --skip-plugin-pre-install >/dev/null
pulumi config rm fkguard:validateTiers -s $stack 2>/dev/null || true
fkguard seed -s $stack --scale "$SCALE" --orphans "$ORPHANS"

step "Phase 2: pulumi preview shows each constraint's SQL and locks before anything runs"
pulumi preview -s $stack --non-interactive --skip-plugin-pre-install --suppress-outputs
echo "The SQL each create will run, from pulumi preview --json:"
pulumi preview -s $stack --non-interactive --skip-plugin-pre-install --json | python3 -c '
import json, sys
for step in json.load(sys.stdin).get("steps", []):
    for line in (step.get("newState") or {}).get("inputs", {}).get("plannedSql") or []:
        print("  " + line)'

step "Phase 3: pulumi up adds the 16 constraints NOT VALID (brief locks, no scan)"
timed pulumi up -s $stack --yes --non-interactive --skip-plugin-pre-install --suppress-outputs
fkguard status -s $stack

for tiers in critical critical,high critical,high,medium all; do
  step "Validate tiers: $tiers (pulumi config set fkguard:validateTiers $tiers; pulumi up)"
  pulumi config set fkguard:validateTiers "$tiers" -s $stack
  timed pulumi up -s $stack --yes --non-interactive --skip-plugin-pre-install --suppress-outputs
done
step "Every constraint validated"
fkguard status -s $stack

step "Rollback: the low tier, with pulumi destroy --target (fkguard rollback prints the command it runs)"
timed fkguard rollback -s $stack --tier low --yes
fkguard status -s $stack
echo
echo "The low tier is dropped and the stack records it. The next pulumi up adds it back, since the"
echo "stack's fkguard:addTiers still lists it; to keep it out, remove it from fkguard:addTiers."
