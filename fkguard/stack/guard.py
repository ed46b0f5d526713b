"""`pulumi` as scripts/env.sh puts it on PATH: the real CLI, run with the environment
fkguard.stack.secrets allows for the stack the command is about. The local stack gets its public
passphrase; `pulumi stack init staging` in the same shell is refused instead of silently
encrypting staging's password with it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from fkguard.stack import secrets as stack_secrets

# The checkout: scripts/bin/pulumi runs this from the program's .venv, where fkguard is installed editable.
PROJECT = Path(__file__).resolve().parents[2]

# Commands that never open a stack's secrets: run as they are, without looking up a stack.
_STACKLESS = {"version", "help", "login", "logout", "whoami", "plugin", "gen-completion", "about", "new", "convert",
              "install", "schema", "env", "org", "policy", "ai", "completion"}
_STACK_LISTING = {"ls", "select", "rm", "history", "export", "import", "output", "tag", "unselect"}


def real_pulumi() -> str:
    path = PROJECT / ".tools" / "bin" / "pulumi"
    if not path.exists():
        raise SystemExit(f"pulumi: {path} is missing: run make bootstrap in {PROJECT}")
    return str(path)


def _option(args: Sequence[str], *names: str) -> str | None:
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(f"{name}="):
                return arg.split("=", 1)[1]
    return None


def _positionals(args: Sequence[str]) -> list[str]:
    # Good enough for `stack init <name>`: the flags that take a value there are written as --flag=value
    # or are followed by their value, which _option reads; a value never starts the positionals.
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = "=" not in arg and arg in ("-s", "--stack", "--secrets-provider", "--copy-config-from", "-C",
                                              "--cwd", "--teams", "--config-file")
        else:
            out.append(arg)
    return out


def project_dir(args: Sequence[str]) -> Path:
    return Path(_option(args, "-C", "--cwd") or os.getcwd()).resolve()


def stack_of(args: Sequence[str]) -> tuple[str | None, str | None]:
    """The stack the command is about, and the secrets provider it asks for (stack init only)."""
    explicit = _option(args, "-s", "--stack")
    words = _positionals(args)
    if words[:2] == ["stack", "init"]:
        return explicit or (words[2] if len(words) > 2 else None), _option(args, "--secrets-provider") or "passphrase"
    if explicit:
        return explicit, None
    if not words or words[0] in _STACKLESS or (words[0] == "stack" and len(words) > 1 and words[1] in _STACK_LISTING):
        return None, None
    selected = subprocess.run([real_pulumi(), "stack", "--show-name", "--non-interactive"],
                              capture_output=True, text=True, check=False, cwd=project_dir(args))
    return (selected.stdout.strip() or None) if selected.returncode == 0 else None, None


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    stack, provider = stack_of(args)
    env = dict(os.environ)
    if stack:
        try:
            env = stack_secrets.env_for(stack, env, project_dir(args), provider)
        except stack_secrets.PublicPassphraseError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    pulumi = real_pulumi()
    os.execve(pulumi, [pulumi, *args], env)


if __name__ == "__main__":
    main()
