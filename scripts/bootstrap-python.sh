#!/usr/bin/env bash
# Creates the two virtualenvs: .venv for the Pulumi program, the fkguard commands and the tests,
# and policies/.venv for the policy pack. Each is rebuilt only when its requirements change.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project=$(dirname "$here")
# Not a python of the virtualenvs this script may delete and rebuild (after `. scripts/env.sh`,
# python3 on PATH is .venv's own).
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -e "^$project/.venv/bin\$" -e "^$project/policies/.venv/bin\$" | paste -sd: -)
python=${PYTHON:-python3}

say() { echo "bootstrap: $*" >&2; }
die() { echo "bootstrap: $*" >&2; exit 1; }

command -v "$python" >/dev/null || die "python3 is not installed: apt-get install python3 python3-venv"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "fkguard needs Python 3.10 or newer"

make_venv() { # folder, requirements file
  local venv=$1 reqs=$2 stamp want
  stamp="$venv/.fkguard-stamp"
  want=$(cat "$reqs" "$project/pyproject.toml" | sha256sum | cut -c1-16)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
    say "${venv#"$project"/} is up to date"
    return 0
  fi
  say "creating ${venv#"$project"/} from ${reqs#"$project"/}"
  rm -rf "$venv"
  "$python" -m venv "$venv" || die "python3 -m venv failed: apt-get install python3-venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$reqs" \
    || { rm -rf "$venv"; die "pip install -r ${reqs#"$project"/} failed (above): check the network to PyPI and run make bootstrap again"; }
  # The core package comes from this checkout, so the program, the pack and the commands share it.
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -e "$project" \
    || { rm -rf "$venv"; die "installing fkguard into ${venv#"$project"/} failed (above)"; }
  echo "$want" >"$stamp"
}

make_venv "$project/.venv" "$project/requirements.txt"
make_venv "$project/policies/.venv" "$project/policies/requirements.txt"
