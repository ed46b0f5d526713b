#!/usr/bin/env bash
# make test-matrix: a named subset of the suite on each PostgreSQL version, one after another (one
# cluster at a time: the machine is shared), then a version x test-file table of passes and failures.
# MATRIX_VERSIONS and MATRIX_TESTS override the defaults below. Logs and JUnit files: results/matrix/.
set -euo pipefail
cd "$(dirname "$0")/.."
versions=${MATRIX_VERSIONS:-14 15 16 17 18}
tests=${MATRIX_TESTS:-tests/test_pg_script.py tests/test_attrs.py tests/test_orphans.py tests/test_locks.py tests/test_verify.py}
out=results/matrix
rm -rf "$out" && mkdir -p "$out"
# shellcheck source=env.sh
. scripts/env.sh
started=$SECONDS
for v in $versions; do
  t=$SECONDS
  FKGUARD_PG_VERSION=$v scripts/bootstrap-postgres.sh 2>"$out/$v.bootstrap.log" \
    || { echo "matrix: PostgreSQL $v could not be installed (results/matrix/$v.bootstrap.log)" >&2; continue; }
  # shellcheck disable=SC2086  # the test list is words on purpose
  FKGUARD_PG_VERSION=$v pytest $tests -q -p no:cacheprovider --junitxml="$out/$v.xml" >"$out/$v.log" 2>&1 || true
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
