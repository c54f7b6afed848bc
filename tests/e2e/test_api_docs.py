"""The local gateway serves openapi.json and Swagger UI over it (from swagger-ui-bundle-v2, no CDN)."""

from __future__ import annotations

import json

import pytest
import requests

from roamsync_dev.local_stack import LocalStack
from roamsync_dev.openapi import OPENAPI_FILE

pytestmark = pytest.mark.e2e


def test_openapi_json_is_the_committed_document(local_stack: LocalStack) -> None:
    response = requests.get(f"{local_stack.gateway_url}/openapi.json", timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))


def test_docs_is_swagger_ui_loading_only_files_the_gateway_serves(local_stack: LocalStack) -> None:
    page = requests.get(f"{local_stack.gateway_url}/docs", timeout=10)

    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert 'id="swagger-ui"' in page.text
    assert "http" not in page.text  # nothing from a CDN: every script and style is local
    for asset in ("/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/init.js"):
        assert asset in page.text
        served = requests.get(f"{local_stack.gateway_url}{asset}", timeout=10)
        assert served.status_code == 200, asset
    init = requests.get(f"{local_stack.gateway_url}/docs/init.js", timeout=10).text
    assert '"/openapi.json"' in init


def test_docs_serves_named_files_only(local_stack: LocalStack) -> None:
    for path in ("/docs/index.html", "/docs/..%2F..%2Fpyproject.toml", "/docs/swagger-ui.js.map"):
        assert requests.get(f"{local_stack.gateway_url}{path}", timeout=10).status_code == 404


def test_docs_needs_no_token_and_the_api_still_does(local_stack: LocalStack) -> None:
    assert requests.get(f"{local_stack.gateway_url}/docs", timeout=10).status_code == 200
    assert requests.get(f"{local_stack.gateway_url}/api/admin/packages/health", timeout=10).status_code == 401
