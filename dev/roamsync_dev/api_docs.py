"""Swagger UI for openapi.json, served by the local gateway (never by a Lambda).

    GET /openapi.json     the committed document (read from disk on each request)
    GET /docs             Swagger UI over it
    GET /docs/<asset>     Swagger UI's own files, from the swagger-ui-bundle-v2 package

Swagger UI's files come from PyPI's `swagger-ui-bundle-v2` (importable as `swagger_ui_bundle`; a
requirements-dev pin), so nothing is vendored into the repository and no page loads a CDN. The
original `swagger-ui-bundle` package ships Swagger UI 4, which cannot render OpenAPI 3.1, the version
Powertools generates. Without the package, /docs says how to install it and /openapi.json still works.
"""

from __future__ import annotations

from pathlib import Path

from werkzeug.wrappers import Response

from roamsync_dev.openapi import OPENAPI_FILE

DOCS = "/docs"
OPENAPI = "/openapi.json"
INSTALL_HINT = "pip install -r requirements-dev.txt  (swagger-ui-bundle-v2)"

# Swagger UI's files the page uses: served by name only, so no path ever reaches the filesystem.
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "favicon-16x16.png": "image/png",
    "favicon-32x32.png": "image/png",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>roamsync API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-ui-standalone-preset.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""

# Kept out of the page so a strict Content-Security-Policy (script-src 'self') still runs it.
# The tokens entered with "Authorize" stay in this page's memory only (persistAuthorization off).
INIT_SCRIPT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: false,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout"
});
"""

NOT_FOUND = '{{"error": {{"code": "not_found", "message": "{what}"}}}}'

MISSING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>roamsync API</title></head>
<body><h1>roamsync API</h1>
<p>Swagger UI is not installed here: <code>{hint}</code>.</p>
<p>The OpenAPI document is at <a href="/openapi.json">/openapi.json</a>.</p></body></html>
"""


def swagger_ui_dir() -> Path | None:
    """Where swagger-ui-bundle-v2 keeps Swagger UI's files, or None when it is not installed."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    return Path(str(swagger_ui_path))


def _reply(body: str | bytes, content_type: str, status: int = 200) -> Response:
    response = Response(body, status=status, content_type=content_type)
    response.headers["Cache-Control"] = "no-cache"
    return response


def _document(openapi_file: Path) -> Response:
    if not openapi_file.is_file():
        return _reply(NOT_FOUND.format(what="openapi.json: run make openapi"), "application/json", 404)
    return _reply(openapi_file.read_bytes(), "application/json")


def _page() -> Response:
    if swagger_ui_dir() is None:
        return _reply(MISSING_PAGE.format(hint=INSTALL_HINT), "text/html; charset=utf-8")
    return _reply(PAGE, "text/html; charset=utf-8")


def _asset(name: str) -> Response:
    if name == "init.js":
        return _reply(INIT_SCRIPT, "text/javascript; charset=utf-8")
    assets = swagger_ui_dir()
    if name not in ASSETS or assets is None:
        return _reply(NOT_FOUND.format(what="no such file"), "application/json", 404)
    return _reply((assets / name).read_bytes(), ASSETS[name])


def respond(method: str, path: str, openapi_file: Path = OPENAPI_FILE) -> Response | None:
    """The answer for a docs request, or None when `path` is not one (the gateway goes on routing)."""
    if method not in ("GET", "HEAD"):
        return None
    if path == OPENAPI:
        return _document(openapi_file)
    if path in (DOCS, DOCS + "/"):
        return _page()
    if path.startswith(DOCS + "/"):
        return _asset(path[len(DOCS) + 1 :])
    return None
