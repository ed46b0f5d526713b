"""Fill the APMS schema with plausible data at a chosen scale and plant orphans on purpose.

Every table is filled by one set-based INSERT … SELECT over generate_series: no row-by-row work,
so ten million rows take minutes. Ids are uuid-shaped text derived from (kind, number), so a
child finds its parent by arithmetic and an orphan is simply a number past the parent's count.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

from fkguard.catalog import ForeignKey
from fkguard.errors import FkguardError

ID_FUNCTION = sql.SQL(
    "CREATE OR REPLACE FUNCTION pg_temp.fkg_id(kind text, n bigint) RETURNS text "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT md5(kind || ':' || n)::uuid::text $$"
)


def _ref(kind: str, parent: str, column: str) -> sql.Composable:
    """A parent key: a real parent row, or (for planted orphans) one past the parent's count."""
    return sql.SQL(
        "CASE WHEN {orphan} = {column} THEN pg_temp.fkg_id({kind}, {count} + g) "
        "ELSE pg_temp.fkg_id({kind}, 1 + mod(g - 1, {count})) END"
    ).format(orphan=sql.Placeholder("orphan"), column=sql.Literal(column), kind=sql.Literal(kind),
             count=sql.Placeholder(parent))


class ScaleError(FkguardError):
    """A scale too small to give every table its rows; the message says the least that works."""


@dataclass(frozen=True)
class Table:
    name: str
    kind: str
    template: str  # constant SQL; counts come in as parameters, parent keys through _ref

    @property
    def insert(self) -> sql.Composed:
        refs = {
            "ws": _ref("ws", "workspaces", "workspace_id"),
            "cv": _ref("cv", "config_versions", "config_version_id"),
            "po": _ref("po", "approval_policy_master", "approval_policy_id"),
            "cl": _ref("cl", "cluster_master", "cluster_id"),
            "wi": _ref("wi", "workflow_instances", "workflow_instance_id"),
            "st": _ref("st", "workflow_stages", "stage_id"),
            "as": _ref("as", "atp_submissions", "submission_id"),
            "pl": _ref("pl", "punchlists", "punchlist_id"),
        }
        return sql.SQL(self.template).format(**{k: v for k, v in refs.items() if "{" + k + "}" in self.template})


# Parents before children. The statement texts are constants: only counts vary, as parameters.
TABLES: tuple[Table, ...] = (
    Table("workspaces", "ws", """
        INSERT INTO workspaces (id, code, name, status)
        SELECT pg_temp.fkg_id('ws', g),
               CASE WHEN g = 1 THEN 'XLSMART-AVIAT' ELSE 'WS-' || g END,
               'Workspace ' || g, (ARRAY['ACTIVE','ACTIVE','SUSPENDED'])[1 + mod(g, 3)]
        FROM generate_series(%(start)s + 1, %(start)s + %(n)s) g"""),
    Table("config_versions", "cv", """
        INSERT INTO config_versions (id, workspace_id, version_number, status)
        SELECT pg_temp.fkg_id('cv', g), pg_temp.fkg_id('ws', 1 + mod(g - 1, %(workspaces)s)),
               g, CASE WHEN g <= %(workspaces)s THEN 'ACTIVE' ELSE 'ARCHIVED' END
        FROM generate_series(%(start)s + 1, %(start)s + %(n)s) g"""),
    Table("atp_scope_master", "sc", """
        INSERT INTO atp_scope_master (id, workspace_id, code, name, atp_category)
        SELECT pg_temp.fkg_id('sc', g), {ws},
               'SCOPE-' || g, 'Scope ' || g,
               (ARRAY['HARDWARE','SOFTWARE','CIVIL','TRANSMISSION'])[1 + mod(g, 4)]
        FROM generate_series(%(start)s + 1, %(start)s + %(n)s) g"""),
    Table("vendor_master", "vd", """
        INSERT INTO vendor_master (id, workspace_id, code, name)
        SELECT pg_temp.fkg_id('vd', g),
               CASE WHEN %(orphan)s = '' AND mod(g, 10) = 0 THEN NULL
                    ELSE {ws} END,
               'VENDOR-' || g, 'Vendor ' || g
        FROM generate_series(%(start)s + 1, %(start)s + %(n)s) g"""),
    Table("approval_role_master", "ro", """
        INSERT INTO approval_role_master (id, workspace_id, code, name, level)
        SELECT pg_temp.fkg_id('ro', g), {ws},
               'ROLE-' || g, 'Role ' || g, 1 + mod(g, 5)
        FROM generate_series(%(start)s + 1, %(start)s + %(n)s) g"""),
    Table("approval_policy_master", "po", """
        INSERT INTO approval_policy_master (id, workspace_id, name, atp_category)
        SELECT pg_temp.fkg_id('po', g),
               CASE WHEN %(orphan)s = '' AND mod(g, 8) = 0 THEN NULL
                    ELSE {ws} END,
               'Policy ' || g, (ARRAY['HARDWARE','SOFTWARE','CIVIL','TRANSMISSION'])[1 + mod(g, 4)]
        FROM generate_series(%(start)s + 1, %(start)s + %(n)s) g"""),
    Table("approval_policy_stages", "ps", """
        INSERT INTO approval_policy_stages (id, approval_policy_id, stage_number, role_code, sla_hours)
        SELECT pg_temp.fkg_id('ps', g), {po},
               1 + (g - 1) / %(approval_policy_master)s, 'ROLE-' || (1 + mod(g, 10)), 24 * (1 + mod(g, 3))
        FROM generate_series(%(start)s + 1, %(start)s + %(n)s) g"""),
    Table("cluster_master", "cl", """
        INSERT INTO cluster_master (id, workspace_id, code, name, region)
        SELECT pg_temp.fkg_id('cl', g), {ws},
               'CLUSTER-' || g, 'Cluster ' || g, (ARRAY['JAVA','SUMATRA','KALIMANTAN','SULAWESI'])[1 + mod(g, 4)]
        FROM generate_series(%(start)s + 1, %(start)s + %(n)s) g"""),
    Table("cluster_approver_master", "ca", """
        INSERT INTO cluster_approver_master (id, cluster_id, approver_user_id, role_code, priority)
        SELECT pg_temp.fkg_id('ca', g), {cl},
               'user-' || mod(g * 7, 997), 'ROLE-' || (1 + mod(g, 10)), 1 + mod(g, 3)
        FROM generate_series(%(start)s + 1, %(start)s + %(n)s) g"""),
    Table("workflow_instances", "wi", """
        INSERT INTO workflow_instances (id, workspace_id, config_version_id, approval_policy_id, site_id,
                                        scope_id, atp_category, status, current_stage_number, created_by,
                                        created_at)
        SELECT pg_temp.fkg_id('wi', g), {ws},
               {cv},
               pg_temp.fkg_id('po', 1 + mod(g - 1, %(approval_policy_master)s)),
               'SITE-' || (1 + mod(g * 31, 50000)), pg_temp.fkg_id('sc', 1 + mod(g - 1, %(atp_scope_master)s)),
               (ARRAY['HARDWARE','SOFTWARE','CIVIL','TRANSMISSION'])[1 + mod(g, 4)],
               (ARRAY['DRAFT','IN_PROGRESS','IN_PROGRESS','APPROVED','REJECTED','CANCELLED'])[1 + mod(g, 6)],
               mod(g, 6), 'user-' || mod(g, 997), now() - make_interval(mins => mod(g, 525600)::int)
        FROM generate_series(%(start)s + 1, %(start)s + %(n)s) g"""),
    Table("workflow_stages", "st", """
        INSERT INTO workflow_stages (id, workflow_instance_id, stage_number, stage_name, status, assigned_role)
        SELECT pg_temp.fkg_id('st', g), {wi},
               1 + (g - 1) / %(workflow_instances)s, 'Stage ' || (1 + (g - 1) / %(workflow_instances)s),
               (ARRAY['PENDING','IN_PROGRESS','APPROVED','REJECTED','SKIPPED'])[1 + mod(g, 5)],
               'ROLE-' || (1 + mod(g, 10))
        FROM generate_series(%(start)s + 1, %(start)s + %(n)s) g"""),
    Table("workflow_stage_actions", "sa", """
        INSERT INTO workflow_stage_actions (id, stage_id, action, actor_id, comment)
        SELECT pg_temp.fkg_id('sa', g), {st},
               (ARRAY['APPROVE','REJECT','COMMENT','REASSIGN','RETURN'])[1 + mod(g, 5)],
               'user-' || mod(g * 13, 997), CASE WHEN mod(g, 3) = 0 THEN 'note ' || g END
        FROM generate_series(%(start)s + 1, %(start)s + %(n)s) g"""),
    Table("atp_submissions", "as", """
        INSERT INTO atp_submissions (id, workflow_instance_id, submission_number, status, submitted_by)
        SELECT pg_temp.fkg_id('as', g), {wi},
               1 + (g - 1) / %(workflow_instances)s,
               (ARRAY['SUBMITTED','UNDER_REVIEW','ACCEPTED','REJECTED'])[1 + mod(g, 4)], 'user-' || mod(g, 997)
        FROM generate_series(%(start)s + 1, %(start)s + %(n)s) g"""),
    Table("atp_submission_documents", "ad", """
        INSERT INTO atp_submission_documents (id, submission_id, file_name, mime_type, size_bytes, storage_key)
        SELECT pg_temp.fkg_id('ad', g), {as},
               'evidence-' || g || '.pdf', 'application/pdf', 1024 * (1 + mod(g, 4096)), 'atp/' || g
        FROM generate_series(%(start)s + 1, %(start)s + %(n)s) g"""),
    Table("punchlists", "pl", """
        INSERT INTO punchlists (id, workflow_instance_id, status, created_by)
        SELECT pg_temp.fkg_id('pl', g), {wi},
               (ARRAY['OPEN','IN_REVIEW','CLOSED'])[1 + mod(g, 3)], 'user-' || mod(g, 997)
        FROM generate_series(%(start)s + 1, %(start)s + %(n)s) g"""),
    Table("punchlist_items", "pi", """
        INSERT INTO punchlist_items (id, punchlist_id, description, severity, status)
        SELECT pg_temp.fkg_id('pi', g), {pl},
               'Item ' || g, (ARRAY['CRITICAL','MAJOR','MINOR'])[1 + mod(g, 3)],
               (ARRAY['OPEN','OPEN','CLOSED'])[1 + mod(g, 3)]
        FROM generate_series(%(start)s + 1, %(start)s + %(n)s) g"""),
    Table("approver_overrides", "ao", """
        INSERT INTO approver_overrides (id, workflow_instance_id, stage_number, original_approver,
                                        override_approver, reason)
        SELECT pg_temp.fkg_id('ao', g), {wi},
               1 + mod(g, 5), 'user-' || mod(g, 997), 'user-' || (1000 + mod(g, 997)), 'On leave'
        FROM generate_series(%(start)s + 1, %(start)s + %(n)s) g"""),
)
TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}


def row_counts(scale: int) -> dict[str, int]:
    """Rows per table when the largest table (workflow_stage_actions) has `scale` rows."""
    if scale < 100:
        raise ScaleError(f"scale {scale} is too small: use at least 100 rows in the largest table")
    workspaces = 20
    instances = max(scale // 20, 1)
    policies = workspaces * 8
    clusters = workspaces * 10
    punchlists = max(instances // 2, 1)
    return {
        "workspaces": workspaces,
        "config_versions": workspaces * 5,
        "atp_scope_master": workspaces * 25,
        "vendor_master": workspaces * 25,
        "approval_role_master": workspaces * 10,
        "approval_policy_master": policies,
        "approval_policy_stages": policies * 4,
        "cluster_master": clusters,
        "cluster_approver_master": clusters * 3,
        "workflow_instances": instances,
        "workflow_stages": instances * 5,
        "workflow_stage_actions": scale,
        "atp_submissions": instances,
        "atp_submission_documents": instances * 2,
        "punchlists": punchlists,
        "punchlist_items": punchlists * 5,
        "approver_overrides": max(instances // 10, 1),
    }


def schema_sql() -> str:
    return resources.files("fkguard.apms").joinpath("schema.sql").read_text()


def reset_schema(conn: psycopg.Connection) -> None:
    """Drop the 17 tables (and any foreign keys on them) and create them afresh. The quarantine of
    fkguard remediate goes too: its rows belong to the tables being recreated."""
    with conn.transaction():
        conn.execute("DROP SCHEMA IF EXISTS fkguard_quarantine CASCADE")
        for table in reversed(TABLES):
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(table.name)))
        conn.execute(schema_sql())


Progress = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _insert(conn: psycopg.Connection, table: Table, params: dict[str, object]) -> None:
    conn.execute(table.insert, params)


def generate(
    conn: psycopg.Connection,
    scale: int,
    orphans: Mapping[ForeignKey, int] | None = None,
    progress: Progress = _stderr,
) -> dict[str, int]:
    """Reset the schema, fill it, plant `orphans[fk]` orphan rows per relationship; return row counts."""
    counts = row_counts(scale)
    reset_schema(conn)
    conn.execute(ID_FUNCTION)
    base = {**counts, "orphan": ""}
    total = sum(counts.values())
    done = 0
    for table in TABLES:
        started = time.monotonic()
        _insert(conn, table, {**base, "start": 0, "n": counts[table.name]})
        done += counts[table.name]
        progress(
            f"  {table.name:<26} {counts[table.name]:>12,} rows  {time.monotonic() - started:6.1f}s"
            f"  ({100 * done // total}% of {total:,})"
        )
    for fk, how_many in (orphans or {}).items():
        if how_many <= 0:
            continue
        table = TABLES_BY_NAME[fk.table.name]
        _insert(conn, table, {**base, "start": counts[table.name], "n": how_many, "orphan": fk.columns[0]})
        counts[table.name] += how_many
        progress(f"  planted {how_many:,} orphans for {fk.name} ({fk.table}.{fk.columns[0]})")
    for table in TABLES:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table.name)))
    return counts
