"""The Pulumi project folder: where Pulumi.yaml, the stacks' config, the catalog and the accepted debt live.

pulumi finds the project from the folder it is started in, and runs the program and the policy pack
there; fkguard's commands find it the same way, whatever subfolder they are started from. This is the
one place that asks the process for its working folder.
"""

from __future__ import annotations

from pathlib import Path

from fkguard.errors import SettingsError


def working_folder() -> Path:
    """The folder the process was started in: pulumi's project folder for the program and the pack."""
    return Path.cwd().resolve()


def find(*starts: Path) -> Path:
    """The first folder holding Pulumi.yaml at or above one of `starts` (default: the working folder), as
    pulumi finds it."""
    for start in starts or (working_folder(),):
        for folder in (start.resolve(), *start.resolve().parents):
            if (folder / "Pulumi.yaml").exists():
                return folder
    raise SettingsError("no Pulumi.yaml here or above: run fkguard and pulumi from the fkguard project")


def or_working(project_dir: Path | None) -> Path:
    """`project_dir` when given, else the working folder: where pulumi would run for this process."""
    return (project_dir or working_folder()).resolve()
