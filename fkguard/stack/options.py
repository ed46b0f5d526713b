"""fkguard's own per-stack settings, the `fkguard:*` keys of `Pulumi.<stack>.yaml`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fkguard.catalog import TIERS
from fkguard.catalog.selection import Selection
from fkguard.errors import FkguardError
from fkguard.stack.settings import namespace_values

NAMESPACE = "fkguard"
# Every key fkguard reads, with what it means (unknown keys are refused, with a suggestion).
KEYS: dict[str, str] = {
    "catalog": "the constraint catalog file",
    "schemas": "this stack owns only the catalog's keys whose table is in these schemas (a catalog split across stacks)",
    "tiers": "this stack owns only the catalog's keys of these tiers (a catalog split across stacks)",
    "addTiers": "tiers whose constraints exist (added NOT VALID)",
    "validateTiers": "tiers whose constraints are validated",
    "lockTimeout": "longest wait for a table lock per attempt",
    "lockRetryBudget": "total time to keep retrying a lock",
    "statementTimeout": "longest VALIDATE scan or supporting-index build (0 = no limit)",
    "backup": "pg_dump the affected tables before the first change (true in production)",
    "backupDir": "where those dumps go",
    "rebindDatabase": "move the stack to another database on purpose: <system_identifier>/<oid>, as its refusal prints",
    "directHost": "the database's own host, for the steps a transaction pooler cannot carry (default postgresql:host)",
    "directPort": "the database's own port, for those steps (default postgresql:port)",
    "maxReplicaLag": "pause before each change while a standby's replay lag exceeds this (0 or off: never)",
    "maxReplicaWait": "longest such pause, after which the step gives up",
}
# Defaults of the two replica keys (LockPolicy, which carries them to every DDL, starts from them too).
MAX_REPLICA_LAG_MS = 30_000
MAX_REPLICA_WAIT_MS = 600_000


class OptionsError(FkguardError):
    """A bad `fkguard:*` setting; the message names the key and the fix."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key  # the fkguard:* key at fault


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, None: 1000, "min": 60_000, "m": 60_000, "h": 3_600_000}


def parse_duration_ms(value: Any, key: str) -> int:
    """'3s', '500ms', '2min', or a number of seconds, in milliseconds."""
    match = _DURATION.match(str(value))
    if not match:
        raise OptionsError(f"{NAMESPACE}:{key} must be a duration like 3s, 500ms or 2min, got {value!r}",
                           key=f"{NAMESPACE}:{key}")
    return int(float(match.group(1)) * _UNIT_MS[match.group(2)])


def _listed(value: Any, key: str) -> Any:
    """A setting written as a JSON list or as 'a,b' (pulumi config set keeps strings), as a list; others as given."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text.startswith("["):
        return [part for part in text.split(",") if part.strip()]
    try:
        return json.loads(text)
    except ValueError:
        raise OptionsError(f"{NAMESPACE}:{key} is not a valid list: {value!r}", key=f"{NAMESPACE}:{key}") from None


def parse_duration_or_off(value: Any, key: str) -> int:
    """A duration, or `off` (also 0, none, false): 0 ms, the check disabled."""
    if str(value).strip().lower() in ("off", "none", "false", "no"):
        return 0
    return parse_duration_ms(value, key)


def parse_tiers(value: Any, key: str) -> tuple[str, ...]:
    """A list, or 'critical,high', or 'all' / 'none', in the plan's order."""
    if value is None:
        return ()
    if isinstance(value, str) and value.strip().lower() == "all":
        return TIERS
    if isinstance(value, str) and value.strip().lower() in ("", "none"):
        return ()
    value = _listed(value, key)
    if not isinstance(value, list):
        raise OptionsError(f"{NAMESPACE}:{key} must be a list of tiers, got {value!r}",
                           key=f"{NAMESPACE}:{key}")
    names = [str(t).strip().lower() for t in value]
    for name in names:
        if name not in TIERS:
            raise OptionsError(f"{NAMESPACE}:{key}: unknown tier {name!r}; use {', '.join(TIERS)}, all or none",
                               key=f"{NAMESPACE}:{key}")
    return tuple(t for t in TIERS if t in names)


def parse_schemas(value: Any, key: str) -> tuple[str, ...]:
    """A list, or 'billing,crm', of schema names as the catalog writes them; () means every schema."""
    value = _listed(value, key)
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise OptionsError(f"{NAMESPACE}:{key} must be a list of schema names, like billing,crm, got {value!r}",
                           key=f"{NAMESPACE}:{key}")
    return tuple(dict.fromkeys(v.strip() for v in value))


def parse_bool(value: Any, key: str) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0", ""):
        return False
    raise OptionsError(f"{NAMESPACE}:{key} must be true or false, got {value!r}", key=f"{NAMESPACE}:{key}")


def _port(value: Any, key: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        port = int(str(value))
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise OptionsError(f"{NAMESPACE}:{key} must be a port number, got {value!r}", key=f"{NAMESPACE}:{key}")
    return port


@dataclass(frozen=True)
class Options:
    catalog: str | None = None
    add_tiers: tuple[str, ...] = TIERS
    validate_tiers: tuple[str, ...] = ()
    lock_timeout_ms: int = 3000
    lock_retry_budget_ms: int = 120_000
    statement_timeout_ms: int = 0
    backup: bool = False
    backup_dir: str = "backups"
    rebind_database: str | None = None
    direct_host: str | None = None  # fkguard.stack.config.StackConfig.direct_connection reads these two
    direct_port: int | None = None
    max_replica_lag_ms: int = MAX_REPLICA_LAG_MS  # fkguard.replicas reads these two
    max_replica_wait_ms: int = MAX_REPLICA_WAIT_MS
    # The part of the catalog this stack owns (fkguard.catalog.selection): the whole catalog unless split.
    selection: Selection = Selection()

    @classmethod
    def from_config(cls, config: Mapping[str, Any], stack: str = "the stack") -> Options:
        values = namespace_values(config, NAMESPACE, list(KEYS), stack, OptionsError)
        add = parse_tiers(values["addTiers"], "addTiers") if "addTiers" in values else TIERS
        validate = parse_tiers(values.get("validateTiers"), "validateTiers")
        missing = [t for t in validate if t not in add]
        if missing:
            raise OptionsError(
                f"{NAMESPACE}:validateTiers names {', '.join(missing)} but {NAMESPACE}:addTiers does not: "
                f"a constraint must exist to be validated; add the tier to {NAMESPACE}:addTiers",
                key=f"{NAMESPACE}:validateTiers",
            )
        lock = parse_duration_ms(values.get("lockTimeout", "3s"), "lockTimeout")
        if lock <= 0:
            raise OptionsError(f"{NAMESPACE}:lockTimeout must be above 0: without it a blocked ALTER stalls all traffic",
                               key=f"{NAMESPACE}:lockTimeout")
        tiers = parse_tiers(values["tiers"], "tiers") if "tiers" in values else TIERS
        return cls(
            selection=Selection(parse_schemas(values.get("schemas") or [], "schemas"), tiers),
            catalog=str(values["catalog"]) if values.get("catalog") else None,
            add_tiers=add,
            validate_tiers=validate,
            lock_timeout_ms=lock,
            lock_retry_budget_ms=parse_duration_ms(values.get("lockRetryBudget", "120s"), "lockRetryBudget"),
            statement_timeout_ms=parse_duration_ms(values.get("statementTimeout", "0"), "statementTimeout"),
            backup=parse_bool(values.get("backup", False), "backup"),
            backup_dir=str(values.get("backupDir") or "backups"),
            rebind_database=str(values["rebindDatabase"]).strip() if values.get("rebindDatabase") else None,
            direct_host=str(values["directHost"]).strip() if values.get("directHost") else None,
            direct_port=_port(values.get("directPort"), "directPort"),
            max_replica_lag_ms=parse_duration_or_off(values.get("maxReplicaLag", f"{MAX_REPLICA_LAG_MS}ms"), "maxReplicaLag"),
            max_replica_wait_ms=parse_duration_ms(values.get("maxReplicaWait", f"{MAX_REPLICA_WAIT_MS}ms"), "maxReplicaWait"),
        )
