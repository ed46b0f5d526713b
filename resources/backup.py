"""TableBackup: a pg_dump of the tables a rollout touches, taken once, before the first change.

Its create takes the dump and records where it is; the constraints of the first tier depend on
it, so nothing changes before it exists. Deleting the resource never deletes the file.
Pickled by reference like the constraint provider: keep this module path and class name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
from pulumi import dynamic

from fkguard import backup
from fkguard.catalog import QualifiedName
from fkguard.errors import EXPECTED, FkguardError, describe
from fkguard.stack import identity
from resources import foreign_key
from resources.taken_once import TakenOnceProvider

_WHAT = "the backup before the first change (pg_dump)"


class TableBackupProvider(TakenOnceProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        try:
            # The first resource of a production rollout: another database is refused here, at preview.
            with foreign_key._connect("checking the database", "the backup") as conn:  # noqa: SLF001
                news = {**news, identity.PROPERTY: foreign_key.guarded(conn, olds, news, "checking the database")}
                if olds.get("path") and not self.diff("", olds, news).changes:
                    return dynamic.CheckResult(news, [])  # the dump is taken already and no new one will be
                # pg_dump sets its own session: through a transaction pooler it needs the direct address.
                dumped_from = foreign_key.session_settings(conn, _WHAT)
            # At preview, before any change: a pg_dump too old for this server is said here, not mid-rollout.
            backup.client_bin(backup.server_major(dumped_from))
        except EXPECTED as exc:
            reason = describe(exc) if isinstance(exc, FkguardError) else \
                f"cannot reach PostgreSQL to choose a pg_dump: {describe(exc)}"
            return dynamic.CheckResult(news, [dynamic.CheckFailure("tables", reason)])
        return dynamic.CheckResult(news, [])

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        tables = [QualifiedName.parse(t) for t in props["tables"]]
        with foreign_key._connect("taking the backup", "the backup") as conn:  # noqa: SLF001
            props = {**props, identity.PROPERTY: foreign_key.guarded(conn, {}, props, "taking the backup")}
            settings = foreign_key.session_settings(conn, _WHAT)
        taken = backup.take(settings, tables, Path(props["directory"]), props["label"])
        return dynamic.CreateResult(taken.path, {**props, "path": taken.path, "sizeBytes": taken.size_bytes,
                                                 "rows": taken.rows, "takenAt": taken.taken_at})

    def delete(self, _id: str, _properties: dict[str, Any]) -> None:
        """The dump stays on disk: a backup is never deleted by a deployment."""


class TableBackup(dynamic.Resource, module="fkguard", name="TableBackup"):
    path: pulumi.Output[str]
    sizeBytes: pulumi.Output[int]
    rows: pulumi.Output[dict]

    def __init__(self, name: str, tables: list[QualifiedName], directory: Path, label: str,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props = {"tables": sorted(str(t) for t in tables), "directory": str(directory), "label": label,
                 "stack": pulumi.get_stack(),
                 "path": None, "sizeBytes": None, "rows": None, "takenAt": None}
        super().__init__(TableBackupProvider(), name, props, opts)
