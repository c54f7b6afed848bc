"""The repository stands alone: no tracked file points at briefs that live outside it, and every relative
link in the README and docs/ resolves to a file in the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()
FORBIDDEN = ("../shared", "DESIGN.md", "DESIGN §", "DESIGN sec", "ROAMIFY_API.md", "STYLE.md")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [name for name in out.splitlines() if name != SELF]


def test_no_tracked_file_points_outside_the_repository() -> None:
    hits: list[str] = []
    for name in _tracked():
        path = ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if any(word in line for word in FORBIDDEN):
                hits.append(f"{name}:{number}: {line.strip()[:100]}")
    assert not hits, "references outside the repository:\n" + "\n".join(hits)


def test_relative_links_in_readme_and_docs_resolve() -> None:
    broken: list[str] = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1):
            for target in LINK.findall(line):
                if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                    continue
                file_part = target.split("#", 1)[0]
                if not (doc.parent / file_part).exists():
                    broken.append(f"{doc.relative_to(ROOT)}:{number}: {target}")
    assert not broken, "broken relative links:\n" + "\n".join(broken)
