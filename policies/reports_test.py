import os
import subprocess
import sys

import reports


def test_a_finding_is_said_once_per_pulumi_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path))
    monkeypatch.setattr(reports, "_command", "123-456")
    assert reports.first_time("referencing-index", "urn:a", "no index")
    assert not reports.first_time("referencing-index", "urn:a", "no index")
    assert reports.first_time("referencing-index", "urn:b", "no index")
    monkeypatch.setattr(reports, "_command", "124-456")  # another pulumi command hears it again
    assert reports.first_time("referencing-index", "urn:a", "no index")


def test_outside_pulumi_nothing_is_remembered(tmp_path, monkeypatch):
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path))
    monkeypatch.setattr(reports, "_command", None)
    assert reports.first_time("p", "u", "m") and reports.first_time("p", "u", "m")
    assert not (tmp_path / "fkguard-policy-reports").exists()


def test_the_pulumi_ancestor_is_found_and_ended_commands_are_swept(tmp_path):
    # A process named pulumi (an interpreter run under that name) starts the pack's interpreter:
    # the pack finds that process by pid and start time, as it finds the real CLI.
    (tmp_path / "pulumi").symlink_to(sys.executable)
    here = os.path.dirname(reports.__file__)
    inner = f"import sys; sys.path.insert(0, {here!r}); import reports; print(reports.pulumi_command())"
    outer = ("import os, subprocess, sys; print(os.getpid(), flush=True); "
             f"subprocess.run([{sys.executable!r}, '-c', {inner!r}], check=True)")
    parent, found = subprocess.run([str(tmp_path / "pulumi"), "-c", outer], capture_output=True, text=True,
                                   check=True).stdout.split()
    assert found.split("-")[0] == parent
    folder = tmp_path / "fkguard-policy-reports"
    ended, running = folder / "999999999-1", folder / f"{os.getpid()}-{reports._process(os.getpid())[2]}"
    ended.mkdir(parents=True)
    running.mkdir()
    reports._sweep(folder)
    assert not ended.exists() and running.exists()
