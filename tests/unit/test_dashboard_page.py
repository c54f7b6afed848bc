"""The dashboard page is self-contained and its Content-Security-Policy allows exactly its own inline
script and style: nothing from another origin, no inline handlers or style attributes the policy
would block."""

from __future__ import annotations

import re
from pathlib import Path

from roamsync.dashboard import content_security_policy, csp_source_hash, load_dashboard

PAGE = Path(__file__).resolve().parents[2] / "functions" / "admin" / "dashboard.html"


def html() -> str:
    return PAGE.read_text(encoding="utf-8")


def test_every_script_and_style_is_a_bare_inline_block_the_policy_hashes() -> None:
    page = html()
    policy = content_security_policy(page)

    scripts = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    styles = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)

    assert len(scripts) == page.count("<script") == 1
    assert len(styles) == page.count("<style") == 1
    assert f"script-src {csp_source_hash(scripts[0])};" in policy
    assert f"style-src {csp_source_hash(styles[0])};" in policy
    assert "unsafe" not in policy
    assert policy.startswith("default-src 'none'; ")


def test_the_page_loads_nothing_from_elsewhere_and_has_nothing_the_policy_would_block() -> None:
    page = html()

    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert not re.search(r"""<[^>]+\son[a-z]+\s*=""", page)  # inline event handlers
    assert not re.search(r"""<[^>]+\sstyle\s*=""", page)  # style attributes
    assert "innerHTML" not in page  # API data goes in as text, never as markup


def test_a_page_without_inline_code_allows_no_script_or_style() -> None:
    policy = content_security_policy("<p>hello</p>")

    assert "script-src 'none'" in policy and "style-src 'none'" in policy


def test_the_page_is_read_once_and_served_with_security_headers(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<script>1</script>", encoding="utf-8")

    first = load_dashboard(page)
    page.write_text("<script>2</script>", encoding="utf-8")

    assert load_dashboard(page) is first
    assert first.headers["X-Frame-Options"] == "DENY"
    assert first.headers["Referrer-Policy"] == "no-referrer"
    assert csp_source_hash("1") in first.headers["Content-Security-Policy"]
