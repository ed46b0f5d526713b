"""A disposable copy of the fkguard project with its own state folder and PULUMI_HOME, driven
through the real pulumi CLI: what the end-to-end tests and the benchmarks run against."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from fkguard.errors import FkguardError

PROJECT = Path(__file__).resolve().parent.parent
COPIED = ("Pulumi.yaml", "Pulumi.local.yaml", "Pulumi.staging.yaml", "Pulumi.production.yaml", "__main__.py",
          "policy-config.local.json", "policy-config.staging.json", "policy-config.production.json")
COPIED_DIRS = ("resources", "policies")
# What else a user's checkout holds, for what runs scripts/env.sh and make in the copy (add_checkout).
CHECKOUT = ("Makefile", "pyproject.toml", "requirements.txt")
CHECKOUT_DIRS = ("scripts", "fkguard")


class ScratchError(FkguardError):
    """A pulumi or fkguard command of the scratch project failed; the message holds its output."""


def pulumi_bin() -> Path:
    path = PROJECT / ".tools" / "bin" / "pulumi"
    if not path.exists():
        raise ScratchError(f"{path} is missing: run make bootstrap (this needs the real pulumi CLI)")
    return path


def guard_bin() -> Path:
    """scripts/bin/pulumi: the `pulumi` of `. scripts/env.sh`, the real CLI behind the passphrase guard."""
    return PROJECT / "scripts" / "bin" / "pulumi"


def local_env() -> dict[str, str]:
    """The throwaway local values from scripts/local.env, as the scripts see them: an FKGUARD_*
    variable set in the environment (another cluster's port, say) overrides the file's default."""
    overrides = {k: v for k, v in os.environ.items() if k.startswith("FKGUARD_")}
    out = subprocess.run(
        ["bash", "-c", f"set -a && . {PROJECT / 'scripts' / 'local.env'} && env"],
        capture_output=True, text=True, check=True, env={"PATH": os.environ["PATH"], **overrides},
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if line.startswith(("FKGUARD_", "PULUMI_")))


@dataclass
class ScratchProject:
    root: Path
    env: dict[str, str]
    cli: Path | None = None  # the pulumi run() runs: the real CLI, or scripts/bin/pulumi for as_user()

    @classmethod
    def create(cls, folder: Path, port: int, database: str | None = None, stack: str = "local") -> ScratchProject:
        root = folder / "project"
        root.mkdir(parents=True)
        for name in COPIED:
            shutil.copy2(PROJECT / name, root / name)
        for name in COPIED_DIRS:
            shutil.copytree(PROJECT / name, root / name, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
        (root / ".venv").symlink_to(PROJECT / ".venv")
        (root / "policies" / ".venv").symlink_to(PROJECT / "policies" / ".venv")
        (root / ".pulumi-state").mkdir()
        env = {
            **os.environ,
            "PATH": f"{pulumi_bin().parent}:{PROJECT / '.venv' / 'bin'}:{os.environ['PATH']}",
            "PULUMI_HOME": str(folder / "pulumi-home"),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_CONFIG_PASSPHRASE": local_env()["PULUMI_CONFIG_PASSPHRASE"],
        }
        env.pop("PULUMI_BACKEND_URL", None)
        project = cls(root, env)
        project.run("stack", "init", stack, "--secrets-provider", "passphrase")
        project.run("config", "set", "postgresql:port", str(port), "--stack", stack)
        if database:
            project.run("config", "set", "postgresql:database", database, "--stack", stack)
        return project

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """A pulumi command started, its output to be read while it runs (stderr into stdout); the caller waits for
        it. A group of its own; what pulumi starts in groups of their own (its language host, the providers) runs in
        the copy's folder, where the project fixture finds and reaps it."""
        command = [str(self.cli or pulumi_bin()), *args, "--non-interactive"]
        return subprocess.Popen(command, cwd=self.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**self.env, **(env or {})}, start_new_session=True)

    def run(self, *args: str, check: bool = True, timeout: float = 3600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        command = [str(self.cli or pulumi_bin()), *args, "--non-interactive"]
        # A group of its own, killed whole on a timeout; what pulumi starts in groups of their own (its language
        # host, the providers) runs in the copy's folder, where the project fixture finds and reaps it.
        with subprocess.Popen(command, cwd=self.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**self.env, **(env or {})}, start_new_session=True) as process:
            try:
                stdout, stderr = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise
        result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
        if check and result.returncode != 0:
            raise ScratchError(f"pulumi {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def add_checkout(self) -> dict[str, str]:
        """Make the copy a checkout as a user has one after `make bootstrap`: the Makefile, scripts/ (env.sh,
        bin/pulumi), fkguard/ and what the bootstrap reads, and .tools/ linking the same built CLI. `. scripts/env.sh`
        and make's targets then run in it; their bootstrap steps find everything built (the virtualenvs are this
        checkout's, linked) and change nothing, given the returned environment: FKGUARD_CACHE, where the CLI was
        built (bootstrap-pulumi.sh looks under $HOME, which a test may move)."""
        for name in CHECKOUT:
            shutil.copy2(PROJECT / name, self.root / name)
        for name in CHECKOUT_DIRS:
            shutil.copytree(PROJECT / name, self.root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        built = (PROJECT / ".tools" / "bin").resolve()
        (self.root / ".tools").mkdir()
        (self.root / ".tools" / "bin").symlink_to(built)
        (self.root / ".tools" / "postgres").symlink_to((PROJECT / ".tools" / "postgres").resolve())
        return {"FKGUARD_CACHE": str(built.parent.parent)}

    def as_user(self, **env: str) -> ScratchProject:
        """This copy as the user of a named stack runs it after `. scripts/env.sh`: pulumi is scripts/bin/pulumi
        (the passphrase guard), the local stack's public passphrase is not in the environment, and `env` adds the
        stack's own (PULUMI_CONFIG_PASSPHRASE_FILE, say) and its database password variable. The same folder and
        state: the copy's `local` stack stays, unused."""
        own = {k: v for k, v in self.env.items() if k not in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")}
        return replace(self, env={**own, **env}, cli=guard_bin())

    def fkguard(self, *args: str, check: bool = True, stdin: str | None = None,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """The fkguard command, run from this project copy as a user of scripts/env.sh would: with no
        passphrase in the environment, which fkguard finds for the local stack itself."""
        environment = {k: v for k, v in self.env.items() if k != "PULUMI_CONFIG_PASSPHRASE"}
        result = subprocess.run([str(PROJECT / ".venv" / "bin" / "fkguard"), *args], cwd=self.root, input=stdin,
                                capture_output=True, text=True, env={**environment, **(env or {})}, timeout=3600,
                                check=False)
        if check and result.returncode != 0:
            raise ScratchError(f"fkguard {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def gated(self, command: str, *args: str, stack: str = "local", check: bool = True):
        """pulumi <command> through the policy pack with the stack's policy config, as make does."""
        return self.run(command, "--stack", stack, "--skip-plugin-pre-install", "--policy-pack", "policies",
                        "--policy-pack-config", f"policy-config.{stack}.json", *args, check=check)

    def state_file(self, stack: str) -> Path:
        return self.root / ".pulumi-state" / ".pulumi" / "stacks" / "fkguard" / f"{stack}.json"
