"""What the database would refuse about a catalog entry, as data: the field at fault, a stable code a caller
can act on (the policy pack skips the policies that need what is missing), and the message a person reads.

Callers act on `code`, never on the message's wording, which may improve.
"""

from __future__ import annotations

from dataclasses import dataclass

# The codes fkguard.rollout.preflight gives, each one kind of refusal.
TABLE_MISSING = "table-missing"  # the referencing or referenced table does not exist
NOT_A_TABLE = "not-a-table"  # it exists, but as a view, a sequence, ...
COLUMN_MISSING = "column-missing"
FOREIGN_PARTITION = "foreign-partition"  # a partition is a foreign table, which cannot hold a foreign key
SERVER_TOO_OLD = "server-too-old"  # ON DELETE ... (columns) before PostgreSQL 15
SET_NULL_ON_NOT_NULL = "set-null-on-not-null"
NOT_OWNER = "not-owner"  # ALTER TABLE needs the referencing table's owner
NO_REFERENCES_PRIVILEGE = "no-references-privilege"
KEY_NOT_UNIQUE = "key-not-unique"  # the referenced columns carry no primary key or unique constraint

CODES = frozenset({TABLE_MISSING, NOT_A_TABLE, COLUMN_MISSING, FOREIGN_PARTITION, SERVER_TOO_OLD,
                   SET_NULL_ON_NOT_NULL, NOT_OWNER, NO_REFERENCES_PRIVILEGE, KEY_NOT_UNIQUE})


@dataclass(frozen=True)
class Problem:
    """One refusal found before anything runs: `field` is the catalog entry's (table, references,
    on_delete, ...), `code` one of CODES, `message` the object at fault and the fix, in one line."""

    field: str
    code: str
    message: str
