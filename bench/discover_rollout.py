"""`python -m bench.discover <schema.sql> --rollout`: the catalog `fkguard discover` writes for a loaded schema,
rolled out unchanged along the path a user walks (README: "A new stack in one command", docs/discover.md).

A scratch copy of the project (fkguard_testing.scratch) with a stack named as users name theirs (`qa`), a
passphrase file of its own (0600) and no public passphrase in the environment, pulumi run through
scripts/bin/pulumi (the passphrase guard):

    fkguard init qa --host … --database <the bench's database> --password-env QA_DB_PASSWORD --policy-from staging
    fkguard discover -s qa --out discovered.yaml        # the real command writes the file
    pulumi config set fkguard:catalog discovered.yaml -s qa
    fkguard audit -s qa                                 # (remediate --action delete only if it finds orphans)
    pulumi preview -s qa --policy-pack policies --policy-pack-config policy-config.qa.json
    pulumi up      -s qa …the same gate…                # every key added NOT VALID
    pulumi config set fkguard:validateTiers all -s qa
    pulumi up      -s qa …the same gate…                # every key validated
    fkguard verify -s qa
    pulumi destroy -s qa; pulumi stack rm qa            # nothing left behind

Each step is timed; the first that fails stops the walk (RolloutFailed: the step and its output). The file
must be byte for byte what discover wrote when the walk ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fkguard.catalog import load_catalog
from fkguard.errors import FkguardError
from fkguard.stack.settings import ConnectionSettings
from fkguard_testing import processes
from fkguard_testing.scratch import ScratchProject

STACK = "qa"
CATALOG = "discovered.yaml"
PASSWORD_ENV = "QA_DB_PASSWORD"
POLICY_FROM = "staging"  # the README's new-stack block
GATE = ("--skip-plugin-pre-install", "--policy-pack", "policies", "--policy-pack-config", f"policy-config.{STACK}.json")

# (schema.table, columns, schema.table, columns), as bench.discover scores keys
Key = tuple[str, tuple[str, ...], str, tuple[str, ...]]


@dataclass
class Step:
    name: str
    seconds: float
    result: str


class RolloutFailed(FkguardError):
    """A step of the walk failed: which, and what it printed."""

    def __init__(self, step: str, output: str, steps: list[Step]) -> None:
        super().__init__(f"rollout step '{step}' failed:\n{output}")
        self.step, self.output, self.steps = step, output, steps


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return f"$ {' '.join(str(a) for a in result.args)}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}"


def foreign_keys(settings: ConnectionSettings) -> dict[tuple[str, str], bool]:
    """(table, name) -> convalidated of every foreign key in the database, partitions' clones left out."""
    with settings.connect(application_name="bench-discover-rollout") as conn:
        return {(table, name): valid for table, name, valid in conn.execute(
            "SELECT conrelid::regclass::text, conname, convalidated FROM pg_constraint "
            "WHERE contype = 'f' AND conparentid = 0")}


class Walk:
    """The steps, timed, stopping at the first failure."""

    def __init__(self) -> None:
        self.steps: list[Step] = []

    def step(self, name: str, run: Callable[[], subprocess.CompletedProcess[str]],
             judge: Callable[[subprocess.CompletedProcess[str]], str | None] = lambda r: "ok" if r.returncode == 0
             else None) -> subprocess.CompletedProcess[str]:
        """Run one step; `judge` says its result, or None when it failed."""
        started = time.monotonic()
        result = run()
        seconds = time.monotonic() - started
        try:
            verdict = judge(result)
        except Exception as e:  # a judge that cannot read the output: the step failed, say why
            verdict, result = None, subprocess.CompletedProcess(result.args, result.returncode, result.stdout,
                                                                f"{result.stderr}\n(bench: {type(e).__name__}: {e})")
        self.steps.append(Step(name, seconds, verdict if verdict is not None else f"FAILED (exit {result.returncode})"))
        if verdict is None:
            raise RolloutFailed(name, _output(result), self.steps)
        return result

    def note(self, name: str, seconds: float, result: str) -> None:
        self.steps.append(Step(name, seconds, result))

    def fail(self, name: str, output: str) -> None:
        self.steps.append(Step(name, 0.0, "FAILED"))
        raise RolloutFailed(name, output, self.steps)


@contextlib.contextmanager
def _user(folder: Path, settings: ConnectionSettings) -> Iterator[ScratchProject]:
    """The project copy as the user of stack qa runs it; whatever the walk leaves of the stack is destroyed and
    removed, and no process it started outlives it."""
    project = ScratchProject.create(folder, settings.port, settings.database)
    passphrase = folder / f"fkguard-{STACK}-passphrase"
    passphrase.write_text(secrets.token_urlsafe(24) + "\n")
    passphrase.chmod(0o600)
    user = project.as_user(PULUMI_CONFIG_PASSPHRASE_FILE=str(passphrase), **{PASSWORD_ENV: settings.password or ""})
    try:
        yield user
    finally:
        listed = user.run("stack", "ls", "--json", check=False)
        if listed.returncode == 0 and STACK in {s["name"] for s in json.loads(listed.stdout or "[]")}:
            user.run("destroy", "--stack", STACK, "--yes", "--skip-plugin-pre-install", check=False)
            user.run("stack", "rm", STACK, "--yes", "--force", check=False)
        processes.reap(project.root)


def rollout(settings: ConnectionSettings, schemas: list[str], scored: set[Key] | None = None) -> list[Step]:
    """Walk the discovered catalog of `settings`' database through the user's path; the steps, or RolloutFailed."""
    walk = Walk()
    with tempfile.TemporaryDirectory(prefix="bench-discover-rollout-") as tmp, _user(Path(tmp), settings) as user:
        walk.step("fkguard init qa", lambda: user.fkguard(
            "init", STACK, "--host", settings.host, "--port", str(settings.port), "--database", settings.database,
            "--username", settings.username, "--password-env", PASSWORD_ENV, "--sslmode", settings.sslmode,
            "--policy-from", POLICY_FROM, check=False))

        path = user.root / CATALOG
        found = walk.step("fkguard discover --out", lambda: user.fkguard(
            "discover", "-s", STACK, *[a for s in schemas for a in ("--schema", s)], "--out", CATALOG, check=False),
            lambda r: f"{len(load_catalog(path))} keys written" if r.returncode == 0 else None)
        written = path.read_bytes()
        catalog = load_catalog(path)
        if scored is not None:
            keys = {(str(fk.table), tuple(fk.columns), str(fk.references), tuple(fk.referenced_columns)) for fk in catalog}
            if keys != scored:
                walk.fail("the file holds the keys the bench scored",
                          f"{len(keys - scored)} in the file only: {sorted(keys - scored)[:10]}\n"
                          f"{len(scored - keys)} scored only: {sorted(scored - keys)[:10]}\n{_output(found)}")

        walk.step("config set fkguard:catalog", lambda: user.run(
            "config", "set", "fkguard:catalog", CATALOG, "--stack", STACK, check=False))

        def audited(r: subprocess.CompletedProcess[str]) -> str | None:
            if r.returncode not in (0, 1):
                return None
            report = json.loads(r.stdout)
            return f"{report['orphans']} orphans in {len(report['relationships'])} relationships"

        audit = walk.step("fkguard audit", lambda: user.fkguard("audit", "-s", STACK, "--json", check=False), audited)
        accepted: set[str] = set()
        if audit.returncode == 1:  # orphans: the gate would refuse them, as it should; the user remediates
            accepted = _remediate(walk, user, json.loads(audit.stdout))
            walk.step("fkguard audit (again)", lambda: user.fkguard("audit", "-s", STACK, "--json", check=False),
                      lambda r: None if r.returncode else f"{audited(r)}"
                      + (f", {len(accepted)} accepted as debt" if accepted else ""))

        walk.step("gated pulumi preview", lambda: user.run("preview", "--stack", STACK, *GATE, check=False))

        before = foreign_keys(settings)
        ours = set(before)

        def added(r: subprocess.CompletedProcess[str]) -> str | None:
            now = foreign_keys(settings)
            new = {k: v for k, v in now.items() if k not in ours}
            if r.returncode != 0 or len(new) != len(catalog) or any(new.values()):
                return None
            return f"{len(new)} keys added NOT VALID"

        walk.step("gated pulumi up", lambda: user.run("up", "--stack", STACK, "--yes", *GATE, check=False), added)
        walk.step("config set validateTiers all", lambda: user.run(
            "config", "set", "fkguard:validateTiers", "all", "--stack", STACK, check=False))

        debts = {(str(fk.table), fk.name) for fk in catalog if fk.label in accepted}

        def validated(r: subprocess.CompletedProcess[str]) -> str | None:
            new = {k: v for k, v in foreign_keys(settings).items() if k not in ours}
            # A key whose orphans are accepted debt stays NOT VALID while the rest of its tier validates (README).
            if r.returncode != 0 or len(new) != len(catalog) or any(v != (_bare(k) not in debts) for k, v in new.items()):
                return None
            return f"{sum(new.values())} keys validated" + (f", {len(debts)} NOT VALID as accepted debt" if debts else "")

        walk.step("gated pulumi up (validate)", lambda: user.run("up", "--stack", STACK, "--yes", *GATE,
                                                                 check=False), validated)

        def verified(r: subprocess.CompletedProcess[str]) -> str | None:
            report = json.loads(r.stdout)
            checks = report["checks"]
            passed, debt = sum(c["ok"] and not c["accepted"] for c in checks), sum(bool(c["accepted"]) for c in checks)
            if r.returncode != 0 or not report["ok"]:
                return None
            return f"{passed} of {len(checks)} checks passed" + (f", {debt} accepted as debt" if debt else "")

        walk.step("fkguard verify", lambda: user.fkguard("verify", "-s", STACK, "--json", check=False), verified)

        def gone(r: subprocess.CompletedProcess[str]) -> str | None:
            left = {k for k in foreign_keys(settings) if k not in ours}
            return f"all {len(catalog)} keys dropped" if r.returncode == 0 and not left else None

        walk.step("pulumi destroy", lambda: user.run("destroy", "--stack", STACK, "--yes",
                                                     "--skip-plugin-pre-install", check=False), gone)
        walk.step("pulumi stack rm qa", lambda: user.run("stack", "rm", STACK, "--yes", check=False))
        if path.read_bytes() != written:
            walk.fail("the file unchanged", f"{CATALOG} changed during the walk")
        walk.note("the file unchanged", 0.0, f"sha256 {hashlib.sha256(written).hexdigest()[:12]}, "
                                               f"{len(written):,} bytes")
    return walk.steps


def _bare(key: tuple[str, str]) -> tuple[str, str]:
    """pg_constraint's (conrelid::regclass, name) as the catalog's (schema.table, name): regclass leaves out public."""
    table, name = key
    return (table if "." in table else f"public.{table}", name)


def _remediate(walk: Walk, user: ScratchProject, report: dict) -> set[str]:
    """The orphans the audit found, removed as the README's walk does: `remediate --all --action delete`. Where
    fkguard refuses a delete (it would orphan rows of other relationships; nothing changed), each relationship on
    its own: deleted where it may be, else accepted as debt, the choice the refusal offers. The labels accepted."""
    refused = walk.step("fkguard remediate --all --action delete", lambda: user.fkguard(
        "remediate", "-s", STACK, "--all", "--action", "delete", "--yes", check=False),
        lambda r: "ok" if r.returncode == 0 else "refused, nothing changed" if r.returncode == 2
        and "Nothing changed" in r.stderr else None)
    if refused.returncode == 0:
        return set()
    started, accepted, deleted = time.monotonic(), set(), []
    for relationship in report["relationships"]:
        label = relationship["constraint"]
        if not relationship["orphans"]:
            continue
        done = user.fkguard("remediate", "-s", STACK, "--constraint", label, "--action", "delete", "--yes", check=False)
        if done.returncode == 2 and "Nothing changed" in done.stderr:
            done = user.fkguard("remediate", "-s", STACK, "--constraint", label, "--action", "accept", "--yes",
                                "--reason", "bench.discover --rollout: its delete would orphan other rows", check=False)
            accepted.add(label)
        else:
            deleted.append(label)
        if done.returncode != 0:
            walk.fail(f"fkguard remediate --constraint {label}", _output(done))
    walk.note("fkguard remediate, one at a time", time.monotonic() - started,
              f"orphans deleted in {len(deleted)}; accepted as debt in {len(accepted)} ({', '.join(sorted(accepted))})")
    return accepted


def table(schema: str, steps: list[Step]) -> str:
    lines = [f"rollout of {schema}'s discovered catalog (stack {STACK}):", "", "| step | seconds | result |",
             "|---|---|---|"]
    lines += [f"| {s.name} | {s.seconds:.1f} | {s.result} |" for s in steps]
    return "\n".join(lines)

