"""The policy gate through the real CLI: orphans stop preview and up with nothing applied;
remediation (and its undo) and accepted debt through the fkguard command; audit against VALIDATE."""

import json

import psycopg

from fkguard.apms.generate import TABLES, generate
from fkguard.catalog import load_catalog
from fkguard.resource_properties import RESOURCE_TYPE as TYPE  # the one constant (tests/test_resource_type.py)
from fkguard_testing.scratch import PROJECT

CATALOG = load_catalog()
BY_NAME = {fk.name: fk for fk in CATALOG}


def fks_in_db(conn) -> int:
    return conn.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                        "AND connamespace = 'public'::regnamespace").fetchone()[0]


def snapshot(conn) -> dict[str, list[str]]:
    return {t.name: sorted(r[0] for r in conn.execute(f"SELECT row_to_json(x)::text FROM {t.name} x"))  # noqa: S608
            for t in TABLES}


def test_orphans_stop_preview_and_up_with_nothing_created_until_remediated(project, conn):
    generate(conn, 1000, {fk: 2 for fk in CATALOG}, progress=lambda _: None)
    preview = project.gated("preview", check=False)
    assert preview.returncode != 0
    assert preview.stdout.count("[mandatory]  orphan-gate") == 16
    assert ("fk_workflow_instances_config_version: 2 rows of public.workflow_instances have no parent in "
            "public.config_versions (e.g. config_version_id='") in preview.stdout
    assert "fkguard remediate -s local --constraint fk_workflow_instances_config_version" in preview.stdout
    # The CLI prints each finding's message and nothing of the policy's remediation_steps or url (only the
    # Pulumi Cloud shows those), so the message carries the fix and the page itself.
    assert ("enforced\n          Fix: remediate them first: fkguard audit -s local, then fkguard remediate -s local "
            "--constraint fk_workflow_instances_config_version --action delete|nullify|accept\n"
            "          See: docs/policies/orphan-gate.md\n") in preview.stdout
    assert "Instead of adding or validating a constraint over rows without a parent" not in preview.stdout

    up = project.gated("up", "--yes", check=False)
    assert up.returncode != 0
    assert fks_in_db(conn) == 0
    exported = json.loads(project.run("stack", "export", "--stack", "local").stdout)
    assert not [r for r in exported["deployment"].get("resources") or [] if r["type"] == TYPE]

    before = snapshot(conn)
    fixed = project.fkguard("remediate", "-s", "local", "--all", "--action", "delete", "--yes")
    assert "re-audit: no orphans left in the 16 relationships" in fixed.stdout
    batch = fixed.stdout.split("fkguard remediate: batch ", 1)[1].split(" ", 1)[0]
    assert project.fkguard("audit", "-s", "local").returncode == 0

    undone = project.fkguard("remediate", "-s", "local", "--undo", batch, "--yes")
    assert f"put back 32 rows of batch {batch}" in undone.stdout
    assert snapshot(conn) == before  # every row back, exactly

    project.fkguard("remediate", "-s", "local", "--all", "--action", "delete", "--yes")
    project.gated("preview")
    project.gated("up", "--yes")
    assert fks_in_db(conn) == 16


def test_remediate_without_yes_and_without_a_terminal_changes_nothing(project, conn):
    generate(conn, 1000, {BY_NAME["fk_punchlist_items_punchlist"]: 2}, progress=lambda _: None)
    before = snapshot(conn)
    result = project.fkguard("remediate", "-s", "local", "--all", "--action", "delete", check=False, stdin="")
    assert result.returncode == 2
    assert "nothing changed: add --yes to proceed without a prompt" in result.stderr
    assert snapshot(conn) == before


def validated_fks(conn) -> dict[str, bool]:
    return dict(conn.execute("SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f' "
                             "AND connamespace = 'public'::regnamespace").fetchall())


def test_accepted_debt_is_per_constraint_and_visible_as_such_everywhere(project, conn):
    vendors = BY_NAME["fk_vendor_master_workspace"]  # medium, like eight others
    generate(conn, 1000, {vendors: 3}, progress=lambda _: None)
    refused = project.fkguard("remediate", "-s", "local", "--constraint", vendors.name, "--action", "accept",
                              "--yes", check=False)
    assert "accepting orphans as debt needs a reason" in refused.stderr
    project.fkguard("remediate", "-s", "local", "--constraint", vendors.name, "--action", "accept", "--yes",
                    "--reason", "vendors imported from the 2019 system; APMS-42")
    recorded = (project.root / "fkguard-debt.yaml").read_text()
    assert "constraint: fk_vendor_master_workspace" in recorded and "orphans: 3" in recorded and "APMS-42" in recorded

    audited = project.fkguard("audit", "-s", "local", check=False)
    assert audited.returncode == 0  # every orphan is accepted
    assert "accepted (vendors imported from the 2019 system; APMS-42)" in audited.stdout
    assert "3 of them accepted as debt in 1" in audited.stdout and "Next: fkguard remediate" not in audited.stdout

    project.gated("up", "--yes")
    assert len(validated_fks(conn)) == 16
    project.run("config", "set", "fkguard:validateTiers", "all", "--stack", "local")
    validated = project.gated("up", "--yes")
    assert "stays NOT VALID while tier medium validates: accepted (vendors imported" in validated.stdout
    state = validated_fks(conn)
    assert [name for name, done in state.items() if not done] == [vendors.name]  # the rest of its tier validated

    verified = project.fkguard("verify", "-s", "local")
    assert "accepted (vendors imported from the 2019 system; APMS-42)" in verified.stdout
    assert verified.stdout.rstrip().endswith("checks passed; 1 accepted as debt")
    assert "FAIL" not in verified.stdout

    # The orphans get fixed after all: the entry is stale, says so, and one command removes it.
    project.fkguard("remediate", "-s", "local", "--constraint", vendors.name, "--action", "nullify", "--yes")
    assert "Debt no longer needed for fk_vendor_master_workspace: fkguard debt -s local --prune" in \
        project.fkguard("audit", "-s", "local").stdout
    assert "stale: no orphans are left" in project.fkguard("debt", "-s", "local").stdout
    assert "the accepted debt is stale (no orphans are left)" in project.fkguard("verify", "-s", "local").stdout
    refused = project.fkguard("debt", "-s", "local", "--prune", check=False)
    assert refused.returncode == 2 and "add --yes" in refused.stderr  # writes only when asked to
    pruned = project.fkguard("debt", "-s", "local", "--prune", "--yes")
    assert "removed 1 stale entries from fkguard-debt.yaml (fk_vendor_master_workspace)" in pruned.stdout
    assert "fk_vendor_master_workspace" not in (project.root / "fkguard-debt.yaml").read_text()
    project.gated("up", "--yes")
    assert all(validated_fks(conn).values())


def test_audit_counts_agree_with_validate(project, conn):
    planted = {fk: i % 3 for i, fk in enumerate(CATALOG)}
    generate(conn, 1000, planted, progress=lambda _: None)
    report = json.loads(project.fkguard("audit", "-s", "local", "--json", check=False).stdout)
    counts = {r["constraint"]: r["orphans"] for r in report["relationships"]}
    assert counts == {fk.name: n for fk, n in planted.items()}
    assert report["orphans"] == sum(planted.values())
    streamed = project.fkguard("audit", "-s", "local", "--all-rows").stdout.splitlines()
    assert len(streamed) == sum(planted.values())
    assert {json.loads(line)["constraint"] for line in streamed} == {fk.name for fk, n in planted.items() if n}
    for fk in CATALOG:
        conn.execute(f"ALTER TABLE {fk.table} ADD CONSTRAINT {fk.name} FOREIGN KEY ({fk.columns[0]}) "
                     f"REFERENCES {fk.references} ({fk.referenced_columns[0]}) NOT VALID")
        try:
            conn.execute(f"ALTER TABLE {fk.table} VALIDATE CONSTRAINT {fk.name}")
            validated = True
        except psycopg.errors.ForeignKeyViolation:
            validated = False
        assert validated == (counts[fk.name] == 0), fk.name


def test_each_refusal_and_each_advisory_is_said_once(project, conn):
    import yaml

    generate(conn, 500, {}, progress=lambda _: None)
    entries = [e for e in yaml.safe_load((PROJECT / "fkguard" / "apms" / "catalog.yaml").read_text())["constraints"]
               if e["name"] in ("fk_cluster_master_workspace", "fk_cluster_approver_master_cluster")]
    for entry in entries:
        entry["index"] = "none"  # with auto fkguard builds the index, and referencing-index has nothing to advise
    (project.root / "two.yaml").write_text(yaml.safe_dump({"constraints": entries}))
    entries[0]["columns"] = ["nope"]
    (project.root / "bad.yaml").write_text(yaml.safe_dump({"constraints": entries}))

    project.run("config", "set", "fkguard:catalog", "bad.yaml", "--stack", "local")
    refused = project.gated("preview", check=False)
    assert refused.returncode != 0
    diagnostics = refused.stdout.split("\nDiagnostics:", 1)[1]
    assert diagnostics.count("column 'nope' does not exist in public.cluster_master; fix the column name") == 1
    # Pulumi's progress line echoes it once; no policy judges the refused entry again.
    assert refused.stdout.count("column 'nope' does not exist") == 2
    assert "could not check" not in refused.stdout

    project.run("config", "set", "fkguard:catalog", "two.yaml", "--stack", "local")
    deployed = project.gated("up", "--yes")
    for fk in ("fk_cluster_master_workspace", "fk_cluster_approver_master_cluster"):
        advisory = f"{fk}: no index on public.cluster_"
        assert deployed.stdout.count(advisory) == 1, fk  # preview and update each ran the pack
