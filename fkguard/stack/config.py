"""A stack's settings as one object: the `postgresql:*` connection and the `fkguard:*` options, read once.

The program gets the mapping from the engine, the providers from their configure request, the commands
and the policy pack from `pulumi config` (fkguard.stack.settings.stack_config); each builds a StackConfig
and reads the connection and the options from it, so a key means the same wherever it is read. Each part
is parsed when first asked for: discover needs only the connection, and a stack whose tiers are all
absent never connects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from fkguard.catalog import load_catalog
from fkguard.catalog.selection import Part, split
from fkguard.stack import options as stack_options
from fkguard.stack import settings

# Every key fkguard reads, for a provider whose SDK gives it no whole mapping (fkguard.stack.pulumi_sdk).
KEYS = tuple(f"{settings.NAMESPACE}:{k}" for k in settings.KEYS) + tuple(
    f"{stack_options.NAMESPACE}:{k}" for k in stack_options.KEYS)


@dataclass(frozen=True)
class StackConfig:
    values: Mapping[str, Any]  # the flat {"postgresql:host": ...} mapping, secrets decrypted
    label: str = "the stack"  # how messages name the stack: "stack 'qa'"

    @classmethod
    def of_stack(cls, stack: str, project_dir: Path | None = None) -> StackConfig:
        """The stack's config as `pulumi config` has it (secrets decrypted), read once."""
        return cls(settings.stack_config(stack, project_dir), f"stack {stack!r}")

    @cached_property
    def connection(self) -> settings.ConnectionSettings:
        return settings.ConnectionSettings.from_config(self.values, stack=self.label)

    @cached_property
    def options(self) -> stack_options.Options:
        return stack_options.Options.from_config(self.values, stack=self.label)

    @cached_property
    def direct_connection(self) -> settings.ConnectionSettings | None:
        """Where the steps that need a session of their own connect (fkguard.stack.pooler): the stack's connection
        at fkguard:directHost and fkguard:directPort (each defaults to postgresql:'s), or None when neither is set."""
        options, connection = self.options, self.connection
        if options.direct_host is None and options.direct_port is None:
            return None
        return dataclasses.replace(connection, host=options.direct_host or connection.host,
                                   port=options.direct_port or connection.port)

    def part(self, project_dir: Path | None = None) -> Part:
        """The catalog's keys this stack owns, and the others' (fkguard:schemas, fkguard:tiers): the program, the
        pack and every command take the stack's keys from here. fkguard:catalog is relative to the project
        folder (where pulumi runs the program); None: the current folder."""
        options = self.options
        path = (project_dir / options.catalog if project_dir else Path(options.catalog)) if options.catalog else None
        return split(load_catalog(path), options.selection, f"catalog {options.catalog or 'the built-in catalog'}")
