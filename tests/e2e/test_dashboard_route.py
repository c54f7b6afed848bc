"""GET /admin through the local stack: the page is public and locked down by its headers; the API
behind it still needs the admin token."""

from __future__ import annotations

import re

import pytest
import requests

from roamsync.dashboard import csp_source_hash
from roamsync_dev.local_stack import LocalStack

pytestmark = pytest.mark.e2e


def test_the_dashboard_page_needs_no_token_and_allows_only_its_own_code(local_stack: LocalStack):
    response = requests.get(f"{local_stack.gateway_url}/admin", timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    policy = dict(d.partition(" ")[::2] for d in response.headers["Content-Security-Policy"].split("; "))
    [script] = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    [style] = re.findall(r"<style>(.*?)</style>", response.text, re.DOTALL)
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == csp_source_hash(script)
    assert policy["style-src"] == csp_source_hash(style)
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_api_the_page_calls_still_needs_the_admin_token(local_stack: LocalStack):
    url = f"{local_stack.gateway_url}/api/admin/my-packages"

    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 403
