"""The output of `fkguard discover`: a catalog file load_catalog reads as it is (each entry preceded by
comments with its evidence), and the same facts as JSON."""

from __future__ import annotations

from typing import Any

import yaml

from fkguard.discover.model import Candidate, Discovery


def _share(c: Candidate) -> str:
    if c.share is None:
        return "no key values to check: the names and types are the only evidence"
    how = (f"in a sample of {c.sample_percent:g}% of the table's pages (TABLESAMPLE SYSTEM, {c.keys:,} keys)"
           if c.sample_percent else f"exact, {c.keys:,} keys")
    return f"{100 * c.share:.2f}% of keys have a parent ({how}), {c.orphans:,} orphans"


def evidence(c: Candidate) -> list[str]:
    """The comment lines above an entry: why it is proposed, and what is left to decide."""
    rows = "about " if c.rows and c.sample_percent else ""
    lines = [
        f"confidence {c.label} ({c.confidence:.2f}): {'; '.join(c.because)}"
        + (f"; ambiguous: {c.ambiguous}" if c.ambiguous else ""),
        f"types: {c.types}; {c.references} ({', '.join(c.referenced_columns)}) is a unique key",
        f"data: {_share(c)}; {rows}{c.rows:,} rows -> {c.parent_rows:,} rows",
        f"index: {c.index} leads with the columns" if c.index else
        "index: none leads with the columns yet (index: auto builds one concurrently before the key)",
        f"on_delete {c.on_delete}: {c.on_delete_why}",
    ]
    return lines


def entry(c: Candidate) -> dict[str, Any]:
    return {"name": c.name, "tier": c.tier, "table": str(c.table), "columns": list(c.columns),
            "references": str(c.references), "referenced_columns": list(c.referenced_columns), "on_delete": c.on_delete}


HEADER = """\
# Written by `fkguard discover` from {where}: {proposed} foreign keys proposed, {rejected} candidates rejected,
# {skipped} left out (an existing key or a trigger covers them). Review every entry, then point a stack at
# this file: pulumi config set fkguard:catalog <this file>.
# Names: fk_<table>_<column without its _id/Id/_ref suffix>, or fk_<table>_<referenced table> for several
# columns (cut to 63 bytes with a hash when longer; _2, _3 when taken).
# Tiers: the fewest rows to validate (referencing + referenced) first (critical), the largest child tables last
# (low), the keys of one table together.
# on_delete: the schema's own convention where it has foreign keys; otherwise RESTRICT, your choice to revisit.
constraints:
"""


def to_yaml(found: Discovery, where: str) -> str:
    text = HEADER.format(where=where, proposed=len(found.proposed), rejected=len(found.rejected),
                         skipped=len(found.skipped))
    if not found.proposed:
        return text.replace("constraints:\n", "constraints: []\n")
    for c in found.proposed:
        text += "".join(f"  # {line}\n" for line in evidence(c))
        body = yaml.safe_dump([entry(c)], sort_keys=False, default_flow_style=None, allow_unicode=True, width=1000)
        text += "".join(f"  {line}\n" for line in body.splitlines())
    return text


def as_json(found: Discovery) -> dict[str, Any]:
    def one(c: Candidate) -> dict[str, Any]:
        return {**entry(c), "confidence": c.confidence, "label": c.label, "because": c.because, "types": c.types,
                "keys": c.keys, "orphans": c.orphans, "share": c.share, "sample_percent": c.sample_percent,
                "rows": c.rows, "parent_rows": c.parent_rows, "index": c.index, "on_delete_why": c.on_delete_why,
                "ambiguous": c.ambiguous or None, "rejected": c.rejected or None}

    return {"schemas": list(found.schemas), "tables": found.tables, "existing_foreign_keys": len(found.existing),
            "proposed": [one(c) for c in found.proposed], "rejected": [one(c) for c in found.rejected],
            "left_out": found.skipped}
