"""`fkguard discover`: the foreign keys a live database is missing, each with the evidence for it.

1. Candidates from names (fkguard.discover.names): a column `x_id`/`xId`/`x_ref` to a table `x`, `xs` or
   `x_master` (with or without a prefix of the table's own) and that table's single-column primary key; a
   column named like another table's distinctive single-column key; a column set named like another table's
   composite unique key.
2. Left out: columns an existing foreign key already covers, and relationships a trigger enforces (a row
   trigger on the referencing table for INSERT or UPDATE, or on the referenced table for DELETE or UPDATE,
   whose function's source names the other table and every column of the pair: how hand-written RI looks).
3. Confirmed by fkguard's own checks: a unique key over the referenced columns (live.has_unique_key) and
   types PostgreSQL compares without casting the referencing column (column_types.pairings, not blocking).
4. Evidence from the data with the audit's predicate (orphans.count_keys_and_orphans): the share of keys
   that have a parent, exact on small tables and on a repeatable TABLESAMPLE of big ones (the size said),
   the orphans, the row counts, whether an index leads with the columns.
5. One parent per column set (the best share, then the most direct name); a key implied by a composite one
   through its parent's own key is left out (`Task (TenantId)` when `Task (TenantId, ProjectNo)` -> `Project`
   and `Project (TenantId)` -> `Tenant`).

Only catalog reads and aggregate queries run: no table is loaded, so memory stays flat.
"""


from fkguard.discover.model import MIN_SHARE, SAMPLE_ABOVE, SAMPLE_ROWS, Candidate, DiscoverError, Discovery
from fkguard.discover.search import discover

__all__ = ["MIN_SHARE", "SAMPLE_ABOVE", "SAMPLE_ROWS", "Candidate", "DiscoverError", "Discovery", "discover"]
