"""The pack and the fkguard command build a stack's context in one place (fkguard.stack.context): a
relative fkguard:catalog is the same file for both, wherever each is started from."""

from collections.abc import Iterator
from pathlib import Path

import context
import pytest
import yaml

from fkguard.commands import common
from fkguard.stack import settings

ENTRY = {"name": "fk_ctx_child_parent", "tier": "critical", "table": "public.ctx_child", "columns": ["parent_id"],
         "references": "public.ctx_parent", "referenced_columns": ["id"], "on_delete": "RESTRICT"}


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "project"
    (root / "catalogs").mkdir(parents=True)
    (root / "policies").mkdir()
    (root / "Pulumi.yaml").write_text("name: fkguard\nruntime: python\n")
    (root / "catalogs" / "mine.yaml").write_text(yaml.safe_dump({"constraints": [ENTRY]}))
    (root / "fkguard-debt.yaml").write_text(yaml.safe_dump({"accepted": [
        {"constraint": "fk_ctx_child_parent", "stack": "ctx", "orphans": 2, "reason": "r", "accepted_by": "ana",
         "accepted_on": "2026-12-05"}]}))
    config = {"fkguard:catalog": "catalogs/mine.yaml", "postgresql:host": "127.0.0.1", "postgresql:port": "5432",
              "postgresql:database": "apms", "postgresql:username": "fkguard", "postgresql:password": "pw"}
    asked: list[tuple[str, Path | None]] = []

    def stack_config(stack: str, project_dir: Path | None = None) -> dict[str, str]:
        asked.append((stack, project_dir))
        return config

    # `pulumi config` itself is what the e2e tests drive; here only where each side looks for the catalog.
    monkeypatch.setattr(settings, "stack_config", stack_config)
    monkeypatch.setattr(context, "_contexts", {})
    yield root
    assert asked and all(where == root for _, where in asked)


def test_the_pack_and_the_command_resolve_a_relative_catalog_to_the_same_file(project, monkeypatch):
    monkeypatch.chdir(project / "catalogs")  # the command, started from a subfolder of the project
    from_command = common.load_stack("ctx")
    monkeypatch.chdir(project / "policies")  # the pack, run by pulumi in its own folder
    monkeypatch.setattr(context, "__file__", str(project / "policies" / "context.py"))
    from_pack = context.for_stack("ctx")
    assert [fk.name for fk in from_command.catalog] == [fk.name for fk in from_pack.catalog] == ["fk_ctx_child_parent"]
    # the accepted debt too: the project's file, not one beside the folder the command was started in
    assert [d.orphans for d in from_command.debts] == [d.orphans for d in from_pack.debts] == [2]
    assert from_pack.project_dir == project
    assert from_pack.application_name == "fkguard-policy"


def test_outside_any_project_the_command_says_where_to_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(settings.SettingsError, match="^no Pulumi.yaml here or above: run fkguard and pulumi from the "):
        common.load_stack("ctx")


def test_the_policies_of_one_resource_share_each_fact_within_one_call(stack, monkeypatch):
    """column-types-match and column-types-align both pair the columns: once per resource per call, asked again
    in the engine's next call (nothing kept from one call to the next can go stale)."""
    import column_types_align
    import column_types_match

    from conftest import compliant, run
    from fkguard import column_types

    asked: list[str] = []
    real = column_types.pairings

    def counting(conn, fk):
        asked.append(fk.name)
        return real(conn, fk)

    monkeypatch.setattr(column_types, "pairings", counting)
    assert run(column_types_match.POLICY, compliant()) == []
    assert run(column_types_align.POLICY, compliant(), fresh=False) == []
    assert len(asked) == 1
    assert run(column_types_match.POLICY, compliant(), fresh=False) == []  # the same policy again: a new call
    assert len(asked) == 2
    other = compliant(constraintName="fk_other_name")
    assert run(column_types_align.POLICY, other, fresh=False) == []  # another resource
    assert asked == [compliant()["constraintName"]] * 2 + ["fk_other_name"]
