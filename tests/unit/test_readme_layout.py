"""The README's "Code layout" table names every Python module of the layer, the handlers and the dev
tools (package `__init__.py` files aside), and names no module that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TREES = ("layers/common/roamsync", "functions", "dev/roamsync_dev")
ROW = re.compile(r"^\|\s*`([^`]+\.py)`\s*\|")


def _table_rows() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Code layout\n", 1)[1]
    section = re.split(r"^#{1,3} ", section, maxsplit=1, flags=re.MULTILINE)[0]
    return [m.group(1) for line in section.splitlines() if (m := ROW.match(line))]


def _modules() -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for tree in TREES
        for path in (ROOT / tree).rglob("*.py")
        if path.name != "__init__.py" and "__pycache__" not in path.parts
    }


def test_every_module_has_a_row() -> None:
    missing = sorted(_modules() - set(_table_rows()))
    assert not missing, "modules without a row in README's Code layout: " + ", ".join(missing)


def test_every_row_names_an_existing_module() -> None:
    rows = _table_rows()
    assert rows, "README has no Code layout table"
    gone = sorted(set(rows) - _modules())
    assert not gone, "README's Code layout names modules that do not exist: " + ", ".join(gone)
    assert len(rows) == len(set(rows)), "a module has two rows"
