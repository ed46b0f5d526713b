"""The README walked as a user walks it: its user-facing ```sh blocks, found by their headings, run line by line AS
WRITTEN with bash in a terminal, after `. scripts/env.sh`, in a copy of the checkout against the test cluster.

The blocks: "A new stack in one command" (stack qa by fkguard init, from the user's copy of the catalog), the
debt block of "Orphans: audit, remediate, verify" (accept, debt, fix, prune) and "The rollout, step by step"
(audit, remediate, make policy-check, the gated preview and up, verify, validation tier by tier, status, monitor,
the two rollback lines). Their `pulumi` is scripts/bin/pulumi, the passphrase guard, as env.sh puts it first.

Substituted, and only these: the database host (the README's placeholder), to which the test cluster's port and
`--sslmode disable` are added (the test cluster speaks no TLS, and fkguard init defaults to verify-full); the
database password (`QA_DB_PASSWORD=…`, from the environment, never printed); the stack name `staging` of the
rollout and debt blocks, which become the `qa` stack the first block made (staging's Pulumi.staging.yaml holds
placeholder hosts); and HOME, so `~/.fkguard-qa-passphrase` lives in the test's folder (FKGUARD_CACHE then says
where `make bootstrap` built the CLI, which bootstrap-pulumi.sh otherwise looks for under HOME). The test makes
what the README tells the user to make: the passphrase file, and `my-keys.yaml`, a copy of the catalog ("Your own
catalog"). The data has orphans where the blocks act on them: in fk_vendor_master_workspace (the rollout's
remediate) and fk_approver_overrides_workflow_instance (the debt block's).

Prompts are answered as a user answers them (`yes`): pulumi's `Do you want to perform this update?` and fkguard's
own confirmations. A line fails the test when it exits otherwise than the README says it may (`fkguard audit`
exits 1 over orphans, "exit 1 if any"; `fkguard monitor` 0, 1 or 3, its verdict), with the line and its output."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fkguard import debt
from fkguard.apms.generate import generate
from fkguard.catalog import load_catalog
from fkguard_testing import terminal
from fkguard_testing.scratch import PROJECT, ScratchProject

README = PROJECT / "README.md"
NEW_STACK, DEBT, ROLLOUT = "A new stack in one command", "Orphans: audit, remediate, verify", "The rollout, step by step"
CI_DEPLOY = "In CI, after a green gated preview"
STACK = "qa"
ORPHANED = ("fk_vendor_master_workspace", "fk_approver_overrides_workflow_instance")
# Exit codes the README gives a command besides 0, and where it says so.
EXITS = {"fkguard audit": {0, 1},  # "(exit 1 if any)", on the line itself
         "fkguard monitor": {0, 1, 3}}  # "Exit 0 acceptable, 1 investigate, 3 rollback"
ASKS = re.compile(r"\bpulumi up\b|\bfkguard (rollback|remediate)\b")  # at a terminal, without --yes: confirmed


def sh_block(title: str, text: str | None = None) -> list[str]:
    """The commands of the first ```sh block after the heading (or bold lead-in) `title`, before the next heading:
    lines continued with a backslash joined, comment-only and blank lines left out."""
    lines = (README.read_text() if text is None else text).splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(rf"(#+ |\*\*){re.escape(title)}\b", line)), None)
    assert start is not None, f"README has no heading {title!r}"
    body: list[str] | None = None
    for line in lines[start + 1:]:
        if body is None:
            if line.strip() == "```sh":
                body = []
            elif line.startswith("#"):
                break
        elif line.strip() == "```":
            break
        else:
            body.append(line)
    assert body, f"README's {title!r} has no ```sh block before the next heading"
    commands: list[str] = []
    for line in re.sub(r" *\\\n *", " ", "\n".join(body)).splitlines():
        if line.strip() and not line.strip().startswith("#"):
            commands.append(line.strip())
    assert commands, f"README's {title!r} block holds no command"
    return commands


def substitute(commands: list[str], rules: list[tuple[str, str]]) -> list[str]:
    """Apply each (pattern, replacement); each must apply somewhere, so a README edit cannot silently skip one."""
    out = commands
    for pattern, replacement in rules:
        new = [re.sub(pattern, replacement, c) for c in out]
        assert new != out, f"substitution {pattern!r} matches nothing in {out}"
        out = new
    return out


def allowed_exits(command: str) -> set[int]:
    return set().union({0}, *(codes for prefix, codes in EXITS.items() if command.startswith(prefix)))


def script(commands: list[str]) -> str:
    """bash: env.sh, then each command between markers; the first exit the README does not allow ends it."""
    out = [". scripts/env.sh"]
    for i, command in enumerate(commands):
        codes = "|".join(str(c) for c in sorted(allowed_exits(command)))
        out += [f"printf '\\n<<walk {i}>>\\n'", command, "__rc=$?", f"printf '\\n<<walk {i} exit %d>>\\n' $__rc",
                f"case $__rc in {codes}) ;; *) exit 97 ;; esac"]
    return "\n".join(out) + "\n"


def outputs(screen: str, count: int) -> list[tuple[str, int | None]]:
    """Each command's output and exit code (None: it never ended) from the markers on the screen."""
    found = []
    for i in range(count):
        begun = re.search(rf"^<<walk {i}>>$", screen, re.M)
        if not begun:
            break
        ended = re.search(rf"^<<walk {i} exit (\d+)>>$", screen[begun.end():], re.M)
        text = screen[begun.end():begun.end() + ended.start()] if ended else screen[begun.end():]
        found.append((text.strip("\n"), int(ended[1]) if ended else None))
    return found


@pytest.fixture()
def walk_project(project: ScratchProject, tmp_path: Path) -> Iterator[tuple[ScratchProject, dict[str, str]]]:
    """The copy as a checkout, its user's environment (HOME in tmp_path, no passphrase), and whatever the walk
    leaves of stack qa destroyed and removed afterwards."""
    extra = project.add_checkout()
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in project.env.items()
           if k not in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_HOME", "VIRTUAL_ENV",
                        "MAKEFLAGS", "MFLAGS", "MAKELEVEL")}  # a user's shell, not make test's
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if not p.startswith(str(PROJECT)))  # before env.sh
    env.update(extra, HOME=str(home), TERM="xterm", PULUMI_DISABLE_CI_DETECTION="1")
    yield project, env
    user = project.as_user(PULUMI_CONFIG_PASSPHRASE_FILE=str(home / ".fkguard-qa-passphrase"))
    if STACK in stack_names(user):
        destroyed = user.run("destroy", "--stack", STACK, "--yes", "--skip-plugin-pre-install", check=False)
        removed = user.run("stack", "rm", STACK, "--yes", "--force", check=False)
        assert destroyed.returncode == 0 and removed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert STACK not in stack_names(user)


def stack_names(project: ScratchProject) -> set[str]:
    return {s["name"] for s in json.loads(project.run("stack", "ls", "--json").stdout)}


def test_the_readme_blocks_run_as_written(walk_project, pg, conn: psycopg.Connection):
    project, env = walk_project
    by_name = {fk.name: fk for fk in load_catalog()}
    generate(conn, 2000, {by_name[name]: 3 for name in ORPHANED}, progress=lambda _: None)
    shutil.copy2(PROJECT / "fkguard" / "apms" / "catalog.yaml", project.root / "my-keys.yaml")  # "Copy it"
    passphrase = Path(env["HOME"]) / ".fkguard-qa-passphrase"
    passphrase.write_text("a-passphrase-of-qa-only\n")
    passphrase.chmod(0o600)
    env["WALK_DB_PASSWORD"] = pg.password

    new_stack = substitute(sh_block(NEW_STACK), [
        (r"--host db\.qa\.internal\b", f"--host 127.0.0.1 --port {pg.port} --sslmode disable"),
        (r"QA_DB_PASSWORD=…", 'QA_DB_PASSWORD="$WALK_DB_PASSWORD"')])
    to_qa = [(r"\bstaging\b", STACK)]
    debts, rollout = substitute(sh_block(DEBT), to_qa), substitute(sh_block(ROLLOUT), to_qa)
    commands = new_stack + debts + rollout
    assert any(c.startswith("fkguard rollback") for c in rollout) and any("--prune" in c for c in debts)

    session = terminal.run(script(commands), project.root, env, timeout=900)
    ran = outputs(session.output, len(commands))
    for i, (text, code) in enumerate(ran):
        if code is None or code not in allowed_exits(commands[i]):
            tail = "\n".join(text.splitlines()[-60:])
            pytest.fail(f"README line failed ({'timed out' if session.timed_out else f'exit {code}'}):\n"
                        f"  {commands[i]}\n{tail}")
    assert len(ran) == len(commands) and session.returncode == 0, session.output[-3000:]
    assert session.answered == sum(len(ASKS.findall(c)) for c in commands if "--yes" not in c), session.output

    said = {command: text for command, (text, _) in zip(commands, ran, strict=True)}
    audit = next(t for c, t in said.items() if c.startswith("fkguard audit"))
    assert re.search(r"^fk_vendor_master_workspace: 3 orphans", audit, re.M), audit
    assert "removed 1 stale entries" in next(t for c, t in said.items() if "--prune" in c)
    assert (project.root / debt.FILE_NAME).exists() and not [d for d in debt.Ledger.load(project.root) if d.stack == STACK]

    # The end state the rollout block leaves: everything validated but the low tier and the key rolled back.
    left = dict(conn.execute("SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f' "
                             "AND connamespace = 'public'::regnamespace"))
    gone = {fk.name for fk in by_name.values() if fk.tier == "low"} | {"fk_vendor_master_workspace"}
    assert left == {name: True for name in by_name if name not in gone}

    # CI's deploy after a green preview (The policy gate): one pass of the gate, the rolled-back keys back, validated.
    deploy = substitute(sh_block(CI_DEPLOY), to_qa)
    assert len(deploy) == 1 and "--skip-preview" in deploy[0]
    ci_env = {**env, "PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase)}  # a CI job's secret, as the first block exports
    session = terminal.run(script(deploy), project.root, ci_env, timeout=600)
    assert outputs(session.output, 1) and outputs(session.output, 1)[0][1] == 0, session.output[-3000:]
    assert dict(conn.execute("SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f' "
                             "AND connamespace = 'public'::regnamespace")) == {name: True for name in by_name}


def test_the_walk_finds_each_block_by_its_heading():
    """A renamed heading, or a block gone from under it, fails the walk instead of walking nothing."""
    for title in (NEW_STACK, DEBT, ROLLOUT):
        assert sh_block(title)
    text = README.read_text()
    with pytest.raises(AssertionError, match="no heading 'The rollout, step by step'"):
        sh_block(ROLLOUT, text.replace("## The rollout, step by step", "## Rolling out"))
    with pytest.raises(AssertionError, match="has no ```sh block"):
        sh_block(NEW_STACK, re.sub(r"(\*\*A new stack in one command:\*\*\n\n)```sh", r"\1```text", text))
    assert "--reason" in sh_block(DEBT)[0] and not any("\\" in c for c in sh_block(DEBT))  # continuations joined
