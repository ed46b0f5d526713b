"""The bootstrap's refusals: each one line saying what to do, and nothing half-installed left behind."""

import os
import subprocess

from fkguard_testing.fixtures import PROJECT

SCRIPT = PROJECT / "scripts" / "bootstrap-pulumi.sh"


def run(tmp_path, **env):
    cache = tmp_path / "cache"
    full_env = {**os.environ, "FKGUARD_CACHE": str(cache), **env}
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=full_env, timeout=120)
    return result, cache


def test_without_go_says_how_to_get_it(tmp_path):
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("bash", "dirname", "cat", "sed", "sort", "head", "curl", "mkdir", "ln", "cut", "printf"):
        path = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        if path.startswith("/"):
            os.symlink(path, bare / tool)
    result, cache = run(tmp_path, PATH=str(bare))
    assert result.returncode == 1
    assert "bootstrap: Go is not installed: install Go 1.26.6 or newer" in result.stderr
    assert not any(cache.glob("pulumi-*")) if cache.exists() else True


def test_unreachable_proxy_says_so_and_leaves_no_cache_entry(tmp_path):
    result, cache = run(tmp_path, GOPROXY="http://127.0.0.1:9")
    assert result.returncode == 1
    assert "the Go module proxy http://127.0.0.1:9 does not answer for pulumi/pkg/v3@v3.274.1" in result.stderr
    assert "check the network or GOPROXY, then run make bootstrap again" in result.stderr
    assert not cache.exists() or not any(cache.iterdir())


def test_second_run_reuses_the_cache():
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "already built" in result.stderr
    assert os.path.realpath(PROJECT / ".tools" / "bin" / "pulumi").endswith("/bin/pulumi")


def test_nothing_from_the_pulumi_modules_is_tracked():
    tracked = subprocess.run(["git", "ls-files"], cwd=PROJECT, capture_output=True, text=True).stdout.split()
    assert not [p for p in tracked if p.startswith((".tools", ".venv", ".pulumi-state")) or p.endswith(".go")]
