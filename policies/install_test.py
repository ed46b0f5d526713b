"""The pack runs from what bootstrap installed into policies/.venv, never from the checkout: fkguard
there is the wheel built from this checkout's sources (so a developer's change reaches the pack only
through `make bootstrap`, which rebuilds it whenever those sources change)."""

import json
import re
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
PACK_PYTHON = HERE / ".venv" / "bin" / "python"

# The pulumi language host runs `python <pack folder>` from the project folder: the pack's folder goes first
# on sys.path, the working directory not at all (-P); the pack's own modules are imported as the engine would.
_WHERE = """
import sys, json
sys.path.insert(0, sys.argv[1])
import context, fkguard, fkguard.catalog
from importlib.metadata import distribution
dist = distribution("fkguard")
print(json.dumps({"file": fkguard.__file__, "catalog": fkguard.catalog.__file__, "version": dist.version,
                  "direct_url": dist.read_text("direct_url.json")}))
"""


def test_the_pack_imports_fkguard_from_its_site_packages_not_from_the_checkout():
    out = subprocess.run([str(PACK_PYTHON), "-P", "-c", _WHERE, str(HERE)], cwd=PROJECT, capture_output=True,
                         text=True, check=True)
    found = json.loads(out.stdout)
    site = HERE / ".venv" / "lib"
    for key in ("file", "catalog"):
        assert Path(found[key]).is_relative_to(site), found[key]
        assert "site-packages" in Path(found[key]).parts
    assert not Path(found["file"]).is_relative_to(PROJECT / "fkguard")
    # installed from the wheel in .wheels/, not as an editable (dir_info: {"editable": true}) checkout
    assert '"editable": true' not in (found["direct_url"] or "")
    pinned = re.search(r"^fkguard==(\S+)", (HERE / "requirements.txt").read_text(), re.M)
    declared = re.search(r'^version = "(.+)"$', (PROJECT / "pyproject.toml").read_text(), re.M)
    assert pinned and declared and found["version"] == pinned[1] == declared[1]


def test_the_pack_has_the_checkout_s_current_fkguard():
    site = next((HERE / ".venv" / "lib").glob("python3*/site-packages"))
    sources = [p.relative_to(PROJECT) for p in sorted((PROJECT / "fkguard").rglob("*.py")) if "__pycache__" not in p.parts]
    differ = [str(p) for p in sources if not (site / p).exists() or (site / p).read_bytes() != (PROJECT / p).read_bytes()]
    assert not differ, f"the pack's fkguard is older than the checkout ({', '.join(differ)}): run make bootstrap"


def test_the_test_harness_is_not_in_the_pack_and_the_pack_s_tests_need_nothing_from_tests():
    site = next((HERE / ".venv" / "lib").glob("python3*/site-packages"))
    assert (site / "fkguard" / "catalog" / "__init__.py").exists()
    assert not (site / "fkguard_testing").exists() and not (site / "fkguard" / "scratch.py").exists()
    imports = [f"{p.name}: {line}" for p in sorted(HERE.glob("*.py")) for line in p.read_text().splitlines()
               if re.match(r"\s*(from|import) tests\b", line)]
    assert imports == []


def test_the_pack_reads_the_local_stack_s_public_passphrase_from_its_own_wheel():
    """A real stack's gated preview asks fkguard, inside the pack, whether its passphrase is the public one:
    the answer must come from the wheel's package data, since no checkout stands beside the pack."""
    code = ("from fkguard.stack import secrets as stack_secrets; print(stack_secrets.__file__); "
            "print(stack_secrets.public_passphrase())")
    out = subprocess.run([str(PACK_PYTHON), "-P", "-c", code], cwd="/", capture_output=True, text=True, check=True)
    where, passphrase = out.stdout.split()
    assert "site-packages" in Path(where).parts
    assert passphrase == "fkguard-local-passphrase"
