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
from functools import lru_cache

SUFFIXES = ("id", "ref")
# Key names too common to say which table they belong to: a column called `id` matches every table.
GENERIC_KEYS = frozenset({"id", "uuid", "key", "code", "name", "ref", "no", "number", "pk", "oid"})
EXACT, PREFIXED = 1.0, 0.85  # the table is named by the stem / by the stem after a prefix of its own
ROLE = 0.75                  # factor when the stem had role words in front
# Role words that say the value is another system's (`external_order_id`, `legacy_customer_id`): no key of ours.
FOREIGN_SYSTEM = frozenset({"external", "foreign", "remote", "legacy", "upstream"})
KEY_NAME = 0.9               # a column named exactly like another table's distinctive single-column key
COMPOSITE = 0.9              # a column set named exactly like another table's composite unique key

_BOUNDARY = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


@lru_cache(maxsize=65536)  # a schema's few thousand names are read for every pair the data found
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
    if set(stem_words) & FOREIGN_SYSTEM:
        return 0.0
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
        """Each table the stem names, with table_score's score (the best over the stem's forms), read with the
        fewest role words dropped that names any table: `device_type_id` names `device_type` and not, as a
        role `device` of a `type`, each of fifty `*_type` tables."""
        best: dict[str, float] = {}
        if set(stem_words) & FOREIGN_SYSTEM:
            return best
        for drop in range(len(stem_words)):
            factor = 1.0 if drop == 0 else ROLE
            for form in _forms(stem_words[drop:]):
                for table, whole in self.by_tail.get(form, ()):
                    best[table] = max(best.get(table, 0.0), (EXACT if whole else PREFIXED) * factor)
            if best:
                break
        return best


def distinctive_key(column: str) -> bool:
    """Whether a key column's name could only belong to its table (`customer_id` yes, `id` or `code` no)."""
    return column.lower() not in GENERIC_KEYS and "".join(words(column)) not in GENERIC_KEYS


# --- names as evidence for a pair the data found ------------------------------------------------------------

# What a key column may end with besides id/ref, when the parent's key column is called so (`language_code`).
KEY_WORDS = frozenset({"id", "ref", "uuid", "key", "code", "pk"})
# Roles that point back at a row of the same table (`parent`, `reports_to`, `previous_subscription_id`).
SELF_ROLES = frozenset({"parent", "previous", "prev", "next", "original", "voided", "superseded", "replaced",
                        "replaces", "merged", "new", "old", "source", "master", "root", "related", "reports",
                        "manager", "successor", "predecessor", "copied", "cloned", "duplicate", "redirect", "forked"})
# Roles of a link table's ends (`entity0`, `entity1`, `source`, `target`).
LINK_ROLES = frozenset({"entity", "source", "target", "from", "to", "left", "right", "a", "b", "first", "second"})
# Words that say a column holds a count, a measure or a position: integers that fall inside serial ids.
MEASURES = frozenset({"count", "counts", "total", "number", "num", "position", "pos", "order", "ordering", "rank",
                      "year", "month", "day", "hour", "size", "length", "width", "height", "depth", "weight", "version",
                      "level", "priority", "score", "amount", "quantity", "qty", "seq", "sequence", "index", "idx",
                      "limit", "max", "min", "duration", "age", "attempts", "retries", "lat", "lon", "zoom",
                      "minutes", "seconds", "days", "cents", "price", "rate", "percent", "step", "tries"})

# Roles people play, and the tables people are kept in (`author_id` -> users, `support_rep_id` -> employee).
PERSON_ROLES = frozenset({"owner", "creator", "author", "user", "subscriber", "recipient", "sender", "granter",
                          "grantee", "revoker", "reporter", "assignee", "approver", "reviewer", "editor", "moderator",
                          "admin", "member", "rep", "manager", "agent", "requester", "resolver", "updater", "inviter",
                          "invitee", "blocker", "follower", "submitter", "uploader", "actor", "by"})
PERSON_TABLES = frozenset({"user", "account", "person", "people", "member", "employee", "staff", "profile", "admin"})
PERSON = 0.7         # a person's role, to the table people are kept in

TABLE_NAMED = 0.95   # the column is named like the parent table, with or without a key word (`customer`)
TAIL_OWN = 0.85      # the parent's last words, the rest its own table's (`shipment.type` -> shipment_type)
TAIL = 0.6           # the parent's last words (`format` -> media_format)
ROLE_PARENT = 0.75   # role words then the parent (`birth_place` -> place)
STARTS = 0.6         # the parent's first words (`gpx_id` -> gpx_files)
SELF = 0.8           # a role that points at its own table (`parent`, `reports_to`)
LINK = 0.75          # a link table's end (`link_place_place.entity0` -> place)
INSIDE = 0.65        # a key word only, the parent named in the table's own name (`place_redirect.new_id`)
SHARED = 0.8         # the table's own key, the parent's name leading its own (`image_type.id`... see below)


@lru_cache(maxsize=65536)
def _singular(word: str) -> str:
    for many, one in (("ies", "y"), ("ses", "s"), ("xes", "x"), ("ches", "ch"), ("shes", "sh")):
        if word.endswith(many) and len(word) > len(many) + 1:
            return word[: -len(many)] + one
    return word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 2 else word


def _base(words_: tuple[str, ...], key_column: str) -> tuple[str, ...]:
    key_words = words(key_column)
    if len(words_) >= 2 and (words_[-1] in KEY_WORDS or (key_words and words_[-1] == key_words[-1])):
        return words_[:-1]
    return words_


def _same(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return bool(a) and len(a) == len(b) and all(_singular(x) == _singular(y) for x, y in zip(a, b, strict=True))


def _ends(whole: tuple[str, ...], tail: tuple[str, ...]) -> bool:
    return 0 < len(tail) < len(whole) and _same(whole[-len(tail):], tail)


def singular_words(name: str) -> tuple[str, ...]:
    return tuple(_singular(w) for w in words(name))


@lru_cache(maxsize=262144)  # the same names meet many keys: 545,487 pairs on a 400-table schema
def evidence(column: str, table: str, parent: str, key_column: str, own_key: bool,
             tables: frozenset[tuple[str, ...]] = frozenset()) -> tuple[float, str]:
    """What the names say of `table.column -> parent(key_column)`, a pair whose values the data found inside
    the key: a score (0 when the names say nothing) and why. own_key: the column is its table's primary key;
    tables: every table's singular_words, so a column naming a table exactly is not read as a looser name
    of another (`TaskNo` is Task's number, not a key of TaskEstimate)."""
    cw, tw, pw = words(column), words(table), words(parent)
    if not cw or not pw or set(cw) & FOREIGN_SYSTEM:
        return 0.0, ""
    found = stem(column)
    if found and not own_key and (s := table_score(found, parent)):
        return s, f"{column} names {parent}"
    base = _base(cw, key_column)
    if own_key:
        if table != parent and len(tw) > len(pw) and _same(tw[: len(pw)], pw) and base in (("id",), cw):
            return SHARED, f"{table} shares {parent}'s key ({table} named after {parent})"
        return 0.0, ""
    if base[-1] in PERSON_ROLES and _singular(pw[-1]) in PERSON_TABLES and table != parent:
        # `account` before `customer_account`: the table named by the person word alone is where people are kept.
        return (PERSON if len(pw) == 1 else PERSON - 0.1), f"{column} is a person's role, {parent} holds people"
    if table == parent:
        rest = [w for w in base if w not in SELF_ROLES and w != "to"]
        own = {_singular(w) for w in tw}
        if (set(cw) & SELF_ROLES or base[-1] == "to") and all(_singular(w) in own for w in rest):
            return SELF, f"{column} is a role pointing into its own table"
        return 0.0, ""
    if _same(base, pw):
        return TABLE_NAMED, f"{column} is named like {parent}"
    if _ends(pw, base):
        head = pw[: len(pw) - len(base)]
        if _same(head, tw[: len(head)]) or _same(head, tw[-len(head):]):
            return TAIL_OWN, f"{column} is the end of {parent}'s name, {table} its start"
        return TAIL, f"{column} is the end of {parent}'s name"
    if _ends(base, pw):
        return ROLE_PARENT, f"{column} is a role word and {parent}"
    if tuple(_singular(w) for w in base) in tables:
        return 0.0, ""
    if len(pw) > len(base) and _same(pw[: len(base)], base) and base[-1] not in MEASURES:
        return STARTS, f"{column} names the start of {parent}"
    inside = any(_same(tw[i: i + len(pw)], pw) for i in range(len(tw) - len(pw) + 1))
    if inside and (set(cw) & LINK_ROLES or any(w.isdigit() for w in cw) or (len(cw) >= 2 and cw[-1] in KEY_WORDS)):
        return (LINK if set(cw) & LINK_ROLES or any(w.isdigit() for w in cw) else INSIDE,
                f"{column} is a role of {table}, which is named after {parent}")
    return 0.0, ""


def refers(column: str) -> bool:
    """Whether the name reads like a reference at all (`owner_id`, `created_by`, `author`), not a measure."""
    cw = words(column)
    return bool(cw) and not set(cw) & MEASURES and (cw[-1] in KEY_WORDS or cw[-1] == "by")


def measure_like(column: str) -> bool:
    return bool(set(words(column)) & MEASURES)
