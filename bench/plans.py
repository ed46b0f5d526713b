"""Measure 5 (Phase 4.4): for each foreign key, whether its referencing columns are indexed, the plan
of the typical lookup by key, and the CREATE INDEX CONCURRENTLY to run where it scans the table."""

from __future__ import annotations

from psycopg import sql

from fkguard import ddl, introspect
from fkguard.catalog import ForeignKey
from fkguard.stack.settings import ConnectionSettings


def _scan(node: dict) -> str:
    if "Scan" in node.get("Node Type", ""):
        return node["Node Type"]
    for child in node.get("Plans", []):
        found = _scan(child)
        if found:
            return found
    return node.get("Node Type", "?")


def run(settings: ConnectionSettings, catalog: list[ForeignKey]) -> list[dict]:
    rows = []
    with settings.connect() as conn:
        for fk in catalog:
            table, col = ddl.table_ref(fk.table), sql.Identifier(fk.columns[0])
            key = conn.execute(sql.SQL("SELECT {c} FROM {t} WHERE {c} IS NOT NULL LIMIT 1").format(c=col, t=table)
                               ).fetchone()
            plan = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) SELECT * FROM {t} WHERE {c} = %s").format(
                t=table, c=col), (key[0] if key else None,)).fetchone()[0][0]["Plan"]
            scan = _scan(plan)
            rows.append({"constraint": fk.name, "indexed": introspect.has_leading_index(conn, fk), "plan": scan,
                         "fix": ddl.create_index_concurrently(fk).as_string(conn) + ";" if "Seq" in scan else ""})
    return rows
