"""The README's layout table says where things are: every path it names exists (but a file it says fkguard
writes), and every file or folder at the top of the checkout, and every page under docs/, is named there."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def layout_rows() -> list[tuple[list[str], str]]:
    section = README[README.index("## Layout"):]
    section = section[:section.index("\n## ", 1)]
    rows = []
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) >= 4 and "`" in cells[1]:
            rows.append((re.findall(r"`([^`]+)`", cells[1]), cells[2]))
    return rows


def test_every_path_the_layout_names_exists():
    # A file fkguard writes for the user (the debt file) exists once a command has written it.
    named = [path for paths, what in layout_rows() if "written by" not in what for path in paths]
    assert len(named) >= 10, named
    for path in named:
        assert list(ROOT.glob(path.replace("<stack>", "*"))), f"README's layout names {path}, which the checkout lacks"


def test_every_top_level_entry_and_doc_page_is_in_the_layout():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    top = {name.split("/", 1)[0] for name in tracked.split()} - {"README.md"}
    named = {path.rstrip("/").split("/", 1)[0] for paths, _ in layout_rows() for path in paths}
    stacks = {name for name in top if re.fullmatch(r"(Pulumi|policy-config)\.[a-z0-9-]+\.(yaml|json)", name)}
    missing = sorted(name for name in top - stacks if not name.startswith(".") and name not in named)
    assert not missing, f"README's layout table does not say what these are: {missing}"
    docs_row = next(what for paths, what in layout_rows() if "docs/" in paths)
    pages = sorted(page.name for page in (ROOT / "docs").glob("*.md"))
    assert pages and all(f"`{page}`" in docs_row for page in pages), (pages, docs_row)


def test_the_readme_stays_a_users_page():
    """What to run and what happens; the measurements and the details live under docs/ (the layout says where)."""
    lines = README.count("\n")
    assert lines < 500, f"README.md has {lines} lines: move details to a page under docs/ and link it"
