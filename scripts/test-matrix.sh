#!/usr/bin/env bash
# make test-matrix: a named subset of the suite on each PostgreSQL version, one after another (one
# cluster at a time: the machine is shared), then a version x test-file table of passes and failures.
# MATRIX_VERSIONS (words) and MATRIX_TESTS (one test id a line) override the defaults below. Logs and JUnit files: results/matrix/.
set -euo pipefail
cd "$(dirname "$0")/.."
versions=${MATRIX_VERSIONS:-14 15 16 17 18}
# The end-to-end core on every version, one test id a line (ids may hold spaces): rollout NOT VALID and
# validation tier by tier, the gate over orphans, rollback, drift by refresh, audit against VALIDATE,
# lock contention, backup restore, partitioned tables, a subset of the bad-input table; and the unit
# tests of what differs between versions (attributes, orphans, locks, verify, the cluster script).
default_tests="tests/test_e2e_rollout.py::test_up_adds_all_16_not_valid_then_config_validates_them
tests/test_e2e_rollout.py::test_fkguard_rollback_of_a_middle_tier_takes_the_later_ones_and_says_so
tests/test_e2e_rollout.py::test_hand_made_drift_is_seen_by_refresh_and_corrected_by_up
tests/test_e2e_gate.py::test_orphans_stop_preview_and_up_with_nothing_created_until_remediated
tests/test_e2e_gate.py::test_audit_counts_agree_with_validate
tests/test_e2e_safety.py::test_add_behind_a_writer_never_stalls_others_beyond_lock_timeout
tests/test_e2e_safety.py::test_backup_before_the_first_change_restores_into_a_fresh_database
tests/test_e2e_partitions_later.py
tests/test_bad_input.py::test_bad_input[type mismatch]
tests/test_bad_input.py::test_bad_input[partitioned table]
tests/test_bad_input.py::test_bad_input[injection in table]
tests/test_bad_input.py::test_bad_input[mixed-case names]
tests/test_bad_input.py::test_bad_input[missing privileges]
tests/test_partitions.py
tests/test_attrs.py
tests/test_orphans.py
tests/test_locks.py
tests/test_verify.py
tests/test_pg_script.py"
mapfile -t tests <<<"${MATRIX_TESTS:-$default_tests}"
out=results/matrix
rm -rf "$out" && mkdir -p "$out"
# shellcheck source=env.sh
. scripts/env.sh
started=$SECONDS
for v in $versions; do
  t=$SECONDS
  FKGUARD_PG_VERSION=$v scripts/bootstrap-postgres.sh 2>"$out/$v.bootstrap.log" \
    || { echo "matrix: PostgreSQL $v could not be installed (results/matrix/$v.bootstrap.log)" >&2; continue; }
  FKGUARD_PG_VERSION=$v pytest "${tests[@]}" -q -p no:cacheprovider --junitxml="$out/$v.xml" >"$out/$v.log" 2>&1 || true
  echo "matrix: PostgreSQL $v done in $((SECONDS - t))s" >&2
done
rc=0
python3 - "$out" $versions <<'PY' || rc=$?
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

out, versions = Path(sys.argv[1]), sys.argv[2:]
cells: dict[str, dict[str, list[int]]] = {}  # file -> version -> [passed, failed]
for v in versions:
    xml = out / f"{v}.xml"
    if not xml.exists():
        continue
    for case in ET.parse(xml).iter("testcase"):
        # classname is tests.test_x or tests.test_x.TestClass: the file is the test_ part.
        parts = case.get("classname", "?").split(".")
        name = next((p for p in parts if p.startswith("test_")), parts[-1])
        bad = any(child.tag in ("failure", "error") for child in case)
        cell = cells.setdefault(name, {}).setdefault(v, [0, 0])
        cell[1 if bad else 0] += 1
width = max([len(f) for f in cells] + [9])
print(f"{'test file':<{width}} " + " ".join(f"{'PG ' + v:>12}" for v in versions))
failed = False
for name in sorted(cells):
    row = []
    for v in versions:
        passed, fails = cells[name].get(v, [0, 0])
        failed |= fails > 0 or not (out / f"{v}.xml").exists()
        row.append("not run" if passed + fails == 0 else ("pass" if not fails else f"{fails}/{passed + fails} fail"))
    print(f"{name:<{width}} " + " ".join(f"{c:>12}" for c in row))
sys.exit(1 if failed else 0)
PY
echo "matrix: $((SECONDS - started))s in all; logs in $out/" >&2
exit $rc
