"""What a column's name says about the table it points at, for `fkguard discover` (no database here).

A name is read as words: `workflow_instance_id`, `WorkflowInstanceId` and `workflowInstanceID` are all
[workflow, instance, id]. A column whose last word is `id` or `ref` names a table by the words before it
(its stem). A table matches a stem when its words are the stem, the stem with its last word in a plural
form, or the stem followed by `master`, each possibly after a prefix of the table's own (`stage_id` ->
`workflow_stages`, `scope_id` -> `atp_scope_master`). A stem may carry a role in front (`shipping_address_id`,
`AssigneeUserId`): the stem without its first words is tried too, for less. The scores say how direct the
match is; the data decide the rest.
"""

from __future__ import annotations

import re

SUFFIXES = ("id", "ref")
# Key names too common to say which table they belong to: a column called `id` matches every table.
GENERIC_KEYS = frozenset({"id", "uuid", "key", "code", "name", "ref", "no", "number", "pk", "oid"})
EXACT, PREFIXED = 1.0, 0.85  # the table is named by the stem / by the stem after a prefix of its own
ROLE = 0.75                  # factor when the stem had role words in front
KEY_NAME = 0.9               # a column named exactly like another table's distinctive single-column key
COMPOSITE = 0.9              # a column set named exactly like another table's composite unique key

_BOUNDARY = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def words(name: str) -> tuple[str, ...]:
    """The lower-case words of an identifier: split at underscores, other punctuation and case changes."""
    return tuple(w.lower() for part in re.split(r"[^A-Za-z0-9]+", name) for w in _BOUNDARY.findall(part))


def stem(column: str) -> tuple[str, ...] | None:
    """The words a referencing column names a table by (`config_version_id` -> config, version), or None."""
    found = words(column)
    return found[:-1] if len(found) >= 2 and found[-1] in SUFFIXES else None


def stem_text(column: str) -> str:
    """The column's own spelling without its id/ref suffix, for constraint names (`UserId` -> `User`)."""
    found = re.sub(r"(?i)[_\W]*(id|ref)$", "", column)
    return found or column


def plural(word: str) -> str:
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", word):
        return word + "es"
    return word + "s"


def _forms(stem_words: tuple[str, ...]) -> set[tuple[str, ...]]:
    many = (*stem_words[:-1], plural(stem_words[-1]))
    return {stem_words, many, (*stem_words, "master"), (*many, "master")}


def table_score(stem_words: tuple[str, ...], table: str) -> float:
    """How well `table` is named by the stem: EXACT, PREFIXED, the same less for role words dropped, or 0."""
    table_words = words(table)
    best = 0.0
    for drop in range(len(stem_words)):
        part = stem_words[drop:]
        factor = 1.0 if drop == 0 else ROLE
        for form in _forms(part):
            if table_words == form:
                best = max(best, EXACT * factor)
            elif len(table_words) > len(form) and table_words[-len(form):] == form:
                best = max(best, PREFIXED * factor)
    return best


class TableIndex:
    """The tables by the word tails of their names, so a stem finds its tables in a few lookups instead of
    a comparison with every table (a schema of thousands of tables and tens of thousands of columns)."""

    def __init__(self, tables: list[str]) -> None:
        self.by_tail: dict[tuple[str, ...], list[tuple[str, bool]]] = {}
        for table in tables:
            found = words(table)
            for start in range(len(found)):
                self.by_tail.setdefault(found[start:], []).append((table, start == 0))

    def matches(self, stem_words: tuple[str, ...]) -> dict[str, float]:
        """Each table the stem names, with table_score's score (the best over the stem's forms and roles)."""
        best: dict[str, float] = {}
        for drop in range(len(stem_words)):
            factor = 1.0 if drop == 0 else ROLE
            for form in _forms(stem_words[drop:]):
                for table, whole in self.by_tail.get(form, ()):
                    best[table] = max(best.get(table, 0.0), (EXACT if whole else PREFIXED) * factor)
        return best


def distinctive_key(column: str) -> bool:
    """Whether a key column's name could only belong to its table (`customer_id` yes, `id` or `code` no)."""
    return column.lower() not in GENERIC_KEYS and "".join(words(column)) not in GENERIC_KEYS
