"""What every fkguard policy needs: the stack being previewed, its database connection and
fkguard settings (read from the same stack config as the program, through fkguard.stack.settings), the
catalog, the accepted debt, and the foreign key a resource stands for; and the one shape of a
finding (the problem, then the fix, then the policy's page under docs/policies/).

The pulumi CLI shows a policy's `remediation_steps` and `url` nowhere (only the Pulumi Cloud and
`pulumi policy issue get` read them), so each finding's message carries its own fix and page too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import reports
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from fkguard import errors, introspect, policy_findings, problems, resource_properties, rollout
from fkguard.catalog import CatalogError, ForeignKey
from fkguard.resource_properties import RESOURCE_TYPE, to_foreign_key
from fkguard.stack import context as stack_context
from fkguard.stack import project
from fkguard.stack.context import StackContext


@dataclass(frozen=True)
class PolicyFinding:
    """One violation: what is wrong with this constraint, and the concrete fix for it; `data` is what the
    policy measured (orphan-gate: rows, sample), recorded for the fleet (fkguard.policy_findings)."""

    problem: str
    fix: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def message(self, policy: str) -> str:
        return f"{self.problem}\nFix: {self.fix}\nSee: {doc_page(policy)}"


@dataclass(frozen=True)
class Requires:
    """The facts a policy needs before it can judge, declared with it (fkguard_policy(requires=...)).

    `tables` are the entry's sides it reads ("table", "references"). The provider's check already refuses an
    entry whose tables are missing, and the pack then skips every policy (provider_refusal); this catches a
    table dropped after that check, within the same call, and says why this policy cannot judge it."""

    tables: tuple[str, ...] = ()
    otherwise: str = ""  # the reason's end: "<table> does not exist, <otherwise>"

    def missing(self, ctx: StackContext, fk: ForeignKey) -> str | None:
        """The not-applicable reason when a fact is missing, else None."""
        if not self.tables:
            return None
        tables = tuple(fk.table if side == "table" else fk.references for side in self.tables)
        # Asked afresh (relkinds never reads a memo), not from a preflight of this call: the look after that check.
        # What it finds, the policies of this resource then read from the resource's memo (introspect.names_held).
        with ctx.connect() as conn:
            kinds = shared(ctx, conn, introspect.relkinds, tables)
        return next((f"{table} does not exist, {self.otherwise}" for table in tables if kinds[table] not in ("r", "p")),
                    None)


NOTHING = Requires()  # a policy that reads only the catalog entry and the stack's settings


class NotApplicable(Exception):  # noqa: N818 (named after pulumi_policy's args.not_applicable, which it becomes)
    """Raised by a check that cannot judge this constraint (e.g. its table is not there yet), with the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def doc_page(policy: str) -> str:
    """The policy's page, relative to the project (its Problem / Instead of / Use / Waiving)."""
    return f"docs/policies/{policy}.md"


_contexts: dict[str, StackContext] = {}
_lock = threading.Lock()  # the engine calls the pack from up to 4 threads


def stack_of(urn: str) -> str:
    """urn:pulumi:<stack>::<project>::<type>::<name>: the pack is not told the stack otherwise."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1]


def project_dir() -> Path:
    """The Pulumi project: the pack runs with the project's or its own folder as working directory."""
    return project.find(project.working_folder(), Path(__file__).resolve().parent)


def register(context: StackContext) -> None:
    """Use this context for its stack (tests, and callers that already know it)."""
    with _lock:
        _contexts[context.stack] = context


def for_stack(stack: str) -> StackContext:
    with _lock:
        if stack not in _contexts:
            _contexts[stack] = stack_context.for_stack(stack, project_dir(), application_name="fkguard-policy")
        return _contexts[stack]


# The facts the policies of one resource share within one Analyze call: the engine asks every policy about a
# resource in turn on one thread, and several ask the same (does the table exist, the constraint of that name,
# the column types): once each per resource instead of once per policy. Fresh for another resource, and when
# a policy is asked again (a new call): nothing is kept from one call to the next, so nothing can go stale.
_shared = threading.local()
T = TypeVar("T")


def _begin(urn: str, policy: str) -> None:
    state = getattr(_shared, "state", None)
    if state is None or state[0] != urn or policy in state[1]:
        _shared.state = (urn, {policy}, {})
        introspect.hold_names(_shared.state[2])  # and what each table is, once per resource too
    else:
        state[1].add(policy)


def forget() -> None:
    """Start afresh (tests that change the database between two policies' calls)."""
    _shared.state = None
    introspect.hold_names(None)


def _resource(args: ResourceValidationArgs) -> tuple[dict[str, Any], ForeignKey]:
    """The resource's properties as plain values and the key they define, read once per resource per call."""
    state = getattr(_shared, "state", None)
    memo = state[2] if state is not None else {}
    if "resource" not in memo:
        props = plain(args.props)
        # The resource's name is the key's label (the program names it so): the catalog's own handle for it.
        try:
            memo["resource"] = (props, replace(to_foreign_key(props), label=args.name))
        except CatalogError as exc:
            memo["resource"] = exc
    if isinstance(memo["resource"], CatalogError):
        raise memo["resource"]
    return memo["resource"]


def shared(ctx: StackContext, conn: psycopg.Connection, compute: Callable[..., T], *args: Any) -> T:
    """compute(conn, *args), asked once per resource by all the policies judging it in this call."""
    state = getattr(_shared, "state", None)
    if state is None:
        return compute(conn, *args)
    key = (ctx.stack, compute, args)
    if key not in state[2]:
        state[2][key] = compute(conn, *args)
    return state[2][key]


def preflight(context: StackContext, fk: ForeignKey, props: Mapping[str, Any]) -> list[problems.Problem]:
    """What rollout.preflight finds about this entry: as the provider's check recorded it in the inputs the engine
    passes on (resource_properties.PREFLIGHT), else asked once per resource per call."""
    recorded = resource_properties.recorded_preflight(props)
    if recorded is not None:
        return recorded
    with context.connect() as conn:
        return shared(context, conn, rollout.preflight, fk)


def provider_refusal(context: StackContext, fk: ForeignKey, props: Mapping[str, Any]) -> str | None:
    """What the provider's check refuses about this entry (rollout.preflight)."""
    found = preflight(context, fk, props)
    # A missing unique key is referenced-key-unique's own finding, which carries the fix.
    return next((p.message for p in found if p.code != problems.KEY_NOT_UNIQUE), None)


def plain(value: Any) -> Any:
    """The pack's read-only proxies as plain dicts and lists."""
    if isinstance(value, (str, bytes)):
        return value
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if hasattr(value, "__iter__"):
        return [plain(v) for v in value]
    return value


PolicyCheck = Callable[[ForeignKey, Mapping[str, Any], StackContext, Mapping[str, Any]], list[PolicyFinding]]


def fkguard_policy(name: str, description: str, level: EnforcementLevel, check: PolicyCheck, *, requires: Requires,
                   instead_of: str, use: str, config_schema: PolicyConfigSchema | None = None
                   ) -> ResourceValidationPolicy:
    """A policy over ForeignKeyConstraint resources; `check` returns its findings, or raises NotApplicable.
    It runs only on an entry the provider's check accepts, and with the facts it `requires`.

    `instead_of` / `use` are the policy's general remediation (its page's two sections, in short); each
    finding carries the fix for its own constraint."""

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type != RESOURCE_TYPE:
            return
        _begin(args.urn, name)
        try:
            props, fk = _resource(args)
        except CatalogError as exc:
            # A gate that cannot read its input must not pass it (the provider's check names the field too).
            unreadable = PolicyFinding(f"{name} could not read {args.name}: {exc}",
                                       "correct the constraint's catalog entry")
            report(unreadable.message(name), None)
            return
        waived = fk.waiver(name)
        if waived:  # the catalog sets this policy aside for this constraint; the program shows it at preview
            args.not_applicable(str(waived))
            return
        try:
            context = for_stack(stack_of(args.urn))
            refused = provider_refusal(context, fk, props)
            if refused:
                # The provider's check refuses this entry at preview, with the object and the fix: saying it
                # again from every policy (or judging a column that does not exist) only buries that line.
                args.not_applicable(refused)
                return
            missing = requires.missing(context, fk)
            if missing:
                args.not_applicable(missing)
                return
            findings = check(fk, props, context, args.get_config() or {})
        except NotApplicable as exc:
            args.not_applicable(exc.reason)
            return
        except errors.EXPECTED as exc:
            findings = [PolicyFinding(f"{name} could not check {fk.label}: {errors.describe(exc)}",
                                      "correct the stack's settings or the database connection, and preview again")]
        for finding in findings:
            message = finding.message(name)
            if reports.first_time(name, args.urn, message):
                # Recorded before it is reported: whoever reads the engine's event finds its data already there.
                policy_findings.record(name, args.urn, finding.data)
                report(message, None)

    return ResourceValidationPolicy(name=name, description=description, enforcement_level=level, validate=validate,
                                    config_schema=config_schema, remediation_steps=f"Instead of {instead_of}, use {use}.",
                                    url=doc_page(name))
