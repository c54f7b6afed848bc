"""The admin dashboard page (`GET /admin`): one self-contained HTML file and the headers it is served with.

The page is public (it holds no data and no secret); everything it shows comes from the admin API,
called with the bearer token the operator types in. Its Content-Security-Policy allows nothing from
anywhere but this origin: the page's own inline `<script>` and `<style>` are allowed by their SHA-256
hashes, computed here from the file itself so that an edit to the page can never leave a stale hash.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

# Only bare <script> / <style> elements count: the page is written to have no others, and a test says so.
_INLINE_BLOCK = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def csp_source_hash(source: str) -> str:
    """The CSP source expression allowing exactly this inline script or style text."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def content_security_policy(html: str) -> str:
    """A policy for `html`: its inline blocks by hash, API calls to this origin only, nothing else."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for tag, body in _INLINE_BLOCK.findall(html):
        hashes[tag].append(csp_source_hash(body))
    scripts = " ".join(hashes["script"]) or "'none'"
    styles = " ".join(hashes["style"]) or "'none'"
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {scripts}",
            f"style-src {styles}",
            "connect-src 'self'",
            "img-src data:",  # the page's empty favicon, so the browser asks for no other
            "base-uri 'none'",
            "form-action 'none'",  # the token form never submits: a failed script cannot leak it
            "frame-ancestors 'none'",
        ]
    )


@dataclass(frozen=True)
class DashboardPage:
    html: str
    headers: dict[str, str] = field(default_factory=dict)


@cache
def load_dashboard(path: Path) -> DashboardPage:
    """Read the page once per container and build its security headers. Raises OSError if it is missing."""
    html = path.read_text(encoding="utf-8")
    return DashboardPage(
        html=html,
        headers={
            "Content-Security-Policy": content_security_policy(html),
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )
