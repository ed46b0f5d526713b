"""The foundation through the real pulumi CLI: the local stack previews and deploys."""

import json

import pytest

from fkguard.apms.generate import generate
from fkguard.resource_properties import RESOURCE_TYPE
from fkguard.stack.settings import SettingsError, stack_config
from fkguard_testing.fixtures import PROJECT


def test_local_stack_previews_and_deploys_and_records_state(project, pg, conn):
    generate(conn, 1000, {}, progress=lambda _: None)
    preview = project.run("preview", "--stack", "local", "--skip-plugin-pre-install")
    # The stack, the monitoring baseline, the 16 constraints, the 11 supporting indexes fkguard builds (index: auto;
    # 5 keys have an index of the schema's own, which serves as it is, with no resource), and a gate after each
    # tier but the last.
    assert "fkguard-local" in preview.stdout and "+ 32 to create" in preview.stdout
    assert not project.state_file("local").exists() or "resources" not in project.state_file("local").read_text()

    project.run("up", "--stack", "local", "--yes", "--skip-plugin-pre-install")
    state = project.state_file("local")
    assert state.exists()
    outputs = json.loads(project.run("stack", "output", "--json", "--stack", "local").stdout)
    assert outputs["database"] == f"fkguard@127.0.0.1:{pg.port}/apms"
    assert outputs["tiers"] == {"critical": "add", "high": "add", "medium": "add", "low": "add"}
    deployment = json.loads(state.read_text())["checkpoint"]["latest"]
    assert sum(r["type"] == RESOURCE_TYPE for r in deployment["resources"]) == 16
    by_name = {r["urn"].rsplit("::", 1)[-1]: r for r in deployment["resources"]}
    # Tier order with one dependency per constraint: each tier waits on the gate of the one before,
    # and the gate on every constraint of its tier. A constraint whose index fkguard builds also waits on
    # it, and the index on the same gate; one the schema's own index serves waits on the gate alone.
    assert [n for n in by_name if n.startswith("tier-")] == ["tier-critical-done", "tier-high-done", "tier-medium-done"]
    assert [d.rsplit("::", 1)[-1] for d in by_name["fk_workflow_stages_workflow_instance"]["dependencies"]] == [
        "tier-critical-done"]
    assert "public.workflow_stages/workflow_stages_workflow_instance_id_idx" not in by_name
    indexes = [r for r in deployment["resources"] if r["type"] == "pulumi-python:dynamic/fkguard:SupportingIndex"]
    assert len(indexes) == 11 and all(r["outputs"]["ours"] is True for r in indexes)
    # The baseline of fkguard monitor is taken before the first change: the first tier's keys and indexes wait on it.
    built = "public.workflow_instances/workflow_instances_config_version_id_idx"
    assert sorted(d.rsplit("::", 1)[-1] for d in by_name["fk_workflow_instances_config_version"]["dependencies"]) == [
        "monitor-baseline", built]
    assert [d.rsplit("::", 1)[-1] for d in by_name[built]["dependencies"]] == ["monitor-baseline"]
    assert [d.rsplit("::", 1)[-1] for d in by_name["fk_workflow_instances_workspace"]["dependencies"]] == [
        "monitor-baseline"]
    # fkguard's mark on what it built, which the next run's program reads: the same 11 stay resources
    assert conn.execute("SELECT count(*) FROM pg_index i JOIN pg_description d ON d.objoid = i.indexrelid "
                        "WHERE d.description LIKE 'fkguard: built%'").fetchone()[0] == 11
    project.run("preview", "--stack", "local", "--skip-plugin-pre-install", "--expect-no-changes")
    assert by_name["monitor-baseline"]["outputs"]["snapshot"]["tables"]
    assert sorted(d.rsplit("::", 1)[-1] for d in by_name["tier-critical-done"]["dependencies"]) == [
        "fk_workflow_instances_config_version", "fk_workflow_instances_workspace"]


def test_no_plugin_was_downloaded(project, conn):
    generate(conn, 1000, {}, progress=lambda _: None)
    project.run("preview", "--stack", "local", "--skip-plugin-pre-install")
    plugins = project.root.parent / "pulumi-home" / "plugins"
    assert not plugins.exists() or not any(plugins.iterdir())


def test_wrong_passphrase_and_missing_stack_say_what_to_do(project, monkeypatch):
    monkeypatch.setenv("PULUMI_HOME", project.env["PULUMI_HOME"])
    monkeypatch.setenv("PATH", project.env["PATH"])
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "not-the-passphrase")
    with pytest.raises(SettingsError) as err:
        stack_config("local", project.root)
    assert str(err.value) == ("cannot read the config of stack 'local': incorrect passphrase; set "
                              "PULUMI_CONFIG_PASSPHRASE to this stack's passphrase (the local one is in "
                              "scripts/local.env)")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "a-real-stacks-own-passphrase")  # the public one is refused
    with pytest.raises(SettingsError) as err:
        stack_config("nosuch", project.root)
    assert "no stack named 'nosuch' found; create it with pulumi stack init <name>" in str(err.value)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", project.env["PULUMI_CONFIG_PASSPHRASE"])
    assert stack_config("local", project.root)["postgresql:password"] == "fkguard-local-only"


def test_staging_and_production_carry_no_password_in_clear():
    for stack in ("staging", "production"):
        text = (PROJECT / f"Pulumi.{stack}.yaml").read_text()
        assert "postgresql:host: apms-" in text and ".example.invalid" in text
        assert "postgresql:password" not in text.split("\nconfig:", 1)[1]
