#!/usr/bin/env bash
# Creates the two virtualenvs: .venv for the Pulumi program, the fkguard commands and the tests,
# and policies/.venv for the policy pack. Each is rebuilt only when its requirements change.
#
# The program's .venv has fkguard from this checkout in editable mode (developers edit the code).
# The pack's policies/.venv has it as a package: a wheel built here from this checkout into .wheels/
# and installed pinned by version (policies/requirements.txt lists it), so the pack runs from what
# it was installed with, never from whatever the checkout holds. The wheel is rebuilt and reinstalled
# whenever fkguard's sources change: run `make bootstrap` (any make target that runs pulumi does).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project=$(dirname "$here")
# Not a python of the virtualenvs this script may delete and rebuild (after `. scripts/env.sh`,
# python3 on PATH is .venv's own).
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -e "^$project/.venv/bin\$" -e "^$project/policies/.venv/bin\$" | paste -sd: -)
python=${PYTHON:-python3}
wheels="$project/.wheels"

say() { echo "bootstrap: $*" >&2; }
die() { echo "bootstrap: $*" >&2; exit 1; }

command -v "$python" >/dev/null || die "python3 is not installed: apt-get install python3 python3-venv"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "fkguard needs Python 3.10 or newer"

pip_in() { local venv=$1; shift; "$venv/bin/pip" --disable-pip-version-check "$@"; }

make_venv() { # folder, requirements file, how fkguard goes in: editable|wheel
  local venv=$1 reqs=$2 how=$3 stamp want
  stamp="$venv/.fkguard-stamp"
  want=$(cat "$reqs" "$project/pyproject.toml" | sha256sum | cut -c1-16)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
    say "${venv#"$project"/} is up to date"
    return 0
  fi
  say "creating ${venv#"$project"/} from ${reqs#"$project"/}"
  rm -rf "$venv"
  "$python" -m venv "$venv" || die "python3 -m venv failed: apt-get install python3-venv"
  # fkguard itself is not on PyPI: the requirements' fkguard line is installed from .wheels/ below.
  pip_in "$venv" install --quiet -r <(grep -v '^fkguard[ =]' "$reqs") \
    || { rm -rf "$venv"; die "pip install -r ${reqs#"$project"/} failed (above): check the network to PyPI and run make bootstrap again"; }
  if [ "$how" = editable ]; then
    pip_in "$venv" install --quiet --no-deps -e "$project" \
      || { rm -rf "$venv"; die "installing fkguard into ${venv#"$project"/} failed (above)"; }
  fi
  echo "$want" >"$stamp"
}

# What the wheel is built from: every file of the packages it holds, and pyproject.toml.
sources_digest() {
  (cd "$project" && find fkguard resources -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z \
    | xargs -0 sha256sum; sha256sum pyproject.toml) | sha256sum | cut -c1-16
}

install_wheel() { # the pack's venv, its requirements file
  local venv=$1 reqs=$2 stamp want pin version
  stamp="$venv/.fkguard-sources"
  want=$(sources_digest)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    say "the pack's fkguard wheel is up to date with the checkout (rebuilt here whenever fkguard/ or resources/ change)"
    return 0
  fi
  version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$project/pyproject.toml")
  pin=$(sed -n 's/^fkguard==\([^ ]*\).*$/\1/p' "$reqs")
  [ "$pin" = "$version" ] || die "${reqs#"$project"/} pins fkguard==$pin but pyproject.toml says $version: make them equal"
  say "building fkguard $version into .wheels/ and installing it into ${venv#"$project"/} (fkguard's sources changed)"
  rm -rf "$project/build" "$wheels"  # a stale build/ would put deleted modules back into the wheel
  pip_in "$project/.venv" wheel --quiet --no-deps --no-build-isolation --wheel-dir "$wheels" "$project" \
    || die "building the fkguard wheel failed (above)"
  rm -rf "$project/build"
  pip_in "$venv" install --quiet --no-deps --no-index --force-reinstall --find-links "$wheels" "fkguard==$version" \
    || die "installing the fkguard wheel into ${venv#"$project"/} failed (above)"
  echo "$want" >"$stamp"
}

make_venv "$project/.venv" "$project/requirements.txt" editable
make_venv "$project/policies/.venv" "$project/policies/requirements.txt" wheel
install_wheel "$project/policies/.venv" "$project/policies/requirements.txt"
