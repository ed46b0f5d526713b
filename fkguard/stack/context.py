"""A stack as every fkguard entry point sees it: its connection settings and fkguard:* options (read
from the stack's config, secrets decrypted), its catalog and its accepted debt. The command and the
policy pack both build it here, so both resolve fkguard:catalog the way the program does: relative
to the project folder, where pulumi runs the program, whatever folder the command is started from.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from fkguard import debt
from fkguard.catalog import ForeignKey
from fkguard.stack import connections, identity, settings
from fkguard.stack.config import StackConfig
from fkguard.stack.options import Options


@dataclass
class StackContext:
    stack: str
    project_dir: Path
    connection: settings.ConnectionSettings
    options: Options
    catalog: list[ForeignKey]
    debts: debt.Ledger
    application_name: str = "fkguard"  # what pg_stat_activity shows for this entry point's connections
    # The catalog's keys other stacks own, when fkguard:schemas or fkguard:tiers split it (`catalog` is this
    # stack's own part): tier-order reads them, to validate a tier only after the earlier tiers of other stacks.
    others: list[ForeignKey] = field(default_factory=list)

    _entries: dict[str, ForeignKey] | None = field(default=None, init=False, repr=False, compare=False)

    def entry(self, fk: ForeignKey) -> ForeignKey:
        """This stack's catalog entry for the key a resource carries (the entry also holds what the resource does
        not, such as its index choice); fk itself when the catalog has none. By name: the pack asks once per key."""
        if self._entries is None:
            self._entries = {c.qualified: c for c in reversed(self.catalog)}  # the first of a name, as a scan finds
        return self._entries.get(fk.qualified, fk)

    @property
    def whole_catalog(self) -> list[ForeignKey]:
        """Every key of the catalog file, this stack's and the other stacks' (a split catalog's other parts)."""
        return [*self.catalog, *self.others]

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        """This thread's connection to the stack's database, kept open for the next use (fkguard.stack.connections):
        the pack judges every constraint with every policy, and must not open a session for each."""
        yield connections.thread_connection(self.connection, self.application_name)

    @contextmanager
    def session(self, application_name: str | None = None) -> Iterator[psycopg.Connection]:
        """A connection of the command's own to the stack's database, closed after; settings that reach a standby
        are refused in one line (fkguard changes and watches the primary)."""
        with self.connection.connect(application_name=application_name or self.application_name) as conn:
            identity.require_primary(conn, f"stack {self.stack}")
            yield conn


def for_stack(stack: str, project_dir: Path, application_name: str = "fkguard") -> StackContext:
    """Everything about `stack` that the program would see; each problem an FkguardError of one line."""
    config = StackConfig.of_stack(stack, project_dir)
    part = config.part(project_dir)
    return StackContext(stack=stack, project_dir=project_dir, connection=config.connection,
                        options=config.options, catalog=part.owned, debts=debt.Ledger.load(project_dir),
                        application_name=application_name, others=part.others)
