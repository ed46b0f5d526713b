"""The policy tests' fixture: a compliant constraint over clean APMS data in the test database,
and a way to run one policy on it the way the engine does (ResourceValidationArgs in, reports out)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import context
import pytest
from pulumi_policy import ResourceValidationArgs, ResourceValidationPolicy

from fkguard import debt
from fkguard.apms.generate import generate
from fkguard.catalog import load_catalog
from fkguard.resource_properties import RESOURCE_TYPE, inputs_of
from fkguard.stack.options import Options

STACK = "unit"
CATALOG = load_catalog()
COMPLIANT = CATALOG[2]  # fk_workflow_stages_workflow_instance: explicit CASCADE, indexed, same types


@pytest.fixture()
def stack(pg, conn, tmp_path: Path) -> context.StackContext:
    generate(conn, 1000, {}, progress=lambda _: None)
    ctx = context.StackContext(stack=STACK, project_dir=tmp_path, connection=pg, options=Options(),
                               catalog=CATALOG, debts=debt.Ledger(None))
    context.register(ctx)
    return ctx


def compliant(**changes: Any) -> dict[str, Any]:
    return {**inputs_of(COMPLIANT, False), **changes}


def run(policy: ResourceValidationPolicy, props: dict[str, Any], config: dict[str, Any] | None = None,
        fresh: bool = True) -> list[str]:
    """One policy's validate; fresh=False continues the engine's call about the same resource."""
    name = props.get("constraintName", "x")
    urn = f"urn:pulumi:{STACK}::fkguard::{RESOURCE_TYPE}::{name}"
    # No resource options or provider: no fkguard policy reads them.
    args = ResourceValidationArgs(RESOURCE_TYPE, props, urn, name, None, None, config or {})  # type: ignore[arg-type]
    reported: list[str] = []

    def report(message: str, _urn: str | None = None) -> None:
        reported.append(message)

    if fresh:
        context.forget()  # a call of its own: the test may have changed the database since the last one
    policy.validate(args, report)
    return reported


GOLDEN = Path(__file__).resolve().parent / "golden"
REGENERATE = "FKGUARD_GOLDEN_UPDATE"  # =1: write the golden files from what the policies say now, then review the diff
_UUID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")  # sampled keys: the data generator's random ids


def golden(case: str, messages: list[str]) -> None:
    """The findings' messages are exactly policies/golden/<case>.txt (one after another, a blank line between),
    so a change of wording is a reviewed change of that file, not an edit of an assertion."""
    text = "\n\n".join(_UUID.sub("<uuid>", message) for message in messages) + "\n"
    path = GOLDEN / f"{case}.txt"
    if os.environ.get(REGENERATE):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.is_file(), f"{path} is missing: run the policy tests with {REGENERATE}=1 to write it"
    assert text == path.read_text(), f"the messages differ from {path} (if on purpose: {REGENERATE}=1, review the diff)"
