"""openapi.json is what the handlers' resolvers generate (roamsync_dev.openapi), covers every route
of template.yaml with the right bearer scheme, and drift between code and file fails here."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from roamsync.domain.access import Role, required_role
from roamsync_dev.openapi import OPENAPI_FILE, OpenApiError, build, drift
from roamsync_dev.template import api_routes, load_template


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def generated(template: dict[str, Any]) -> dict[str, Any]:
    return build(template)


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
    return document


def test_the_committed_openapi_json_is_what_the_code_generates(
    committed: dict[str, Any], generated: dict[str, Any]
) -> None:
    problems = drift(committed, generated)

    assert not problems, "openapi.json is out of date (run `make openapi`): " + "; ".join(problems)
    assert committed == generated


def test_every_template_route_is_in_the_committed_file(
    template: dict[str, Any], committed: dict[str, Any]
) -> None:
    missing = [
        f"{r.method} {r.path}"
        for r in api_routes(template)
        if r.method.lower() not in committed["paths"].get(r.path, {})
    ]

    assert missing == []


def test_each_operation_names_the_token_its_route_needs(
    template: dict[str, Any], committed: dict[str, Any]
) -> None:
    schemes = committed["components"]["securitySchemes"]
    assert schemes["adminToken"] == {**schemes["adminToken"], "type": "http", "scheme": "bearer"}
    assert schemes["clientToken"] == {**schemes["clientToken"], "type": "http", "scheme": "bearer"}
    for route in api_routes(template):
        operation = committed["paths"][route.path][route.method.lower()]
        if route.public:
            expected: list[dict[str, list[str]]] = []
        else:
            expected = [{"adminToken" if required_role(route.path) is Role.ADMIN else "clientToken": []}]
        assert operation["security"] == expected, f"{route.method} {route.path}"
        assert ("401" in operation["responses"]) is not route.public


def test_health_and_sync_status_document_their_answers(committed: dict[str, Any]) -> None:
    schemas = committed["components"]["schemas"]
    health = committed["paths"]["/api/admin/packages/health"]["get"]["responses"]["200"]

    assert health["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/HealthReport"}
    assert {"healthScore", "reason", "lastValidation", "catalog"} <= set(
        schemas["HealthReport"]["properties"]
    )
    assert {"lastSync", "lastValidation", "schedule", "roamifyApiHealthy", "syncNeeded"} <= set(
        schemas["SyncStatus"]["properties"]
    )


def test_path_parameters_carry_the_template_names(committed: dict[str, Any]) -> None:
    operation = committed["paths"]["/api/admin/my-packages/{id}"]["get"]

    assert [p["name"] for p in operation["parameters"] if p["in"] == "path"] == ["id"]


def test_a_changed_handler_shows_as_drift(committed: dict[str, Any]) -> None:
    changed = copy.deepcopy(committed)
    changed["paths"]["/api/admin/packages/health"]["get"]["summary"] = "something else"
    del changed["paths"]["/api/orders"]

    problems = drift(changed, committed)

    assert "GET /api/admin/packages/health: changed" in problems
    assert "POST /api/orders: missing from openapi.json" in problems


def test_a_template_route_no_handler_serves_is_an_error(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    events = broken["Resources"]["AdminFunction"]["Properties"]["Events"]
    events["Ghost"] = {
        "Type": "Api",
        "Properties": {"RestApiId": {"Ref": "RoamsyncApi"}, "Path": "/api/admin/ghost", "Method": "get"},
    }

    with pytest.raises(OpenApiError, match="GET /api/admin/ghost"):
        build(broken)


def test_a_handler_route_the_template_does_not_declare_is_an_error(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    del broken["Resources"]["AdminFunction"]["Properties"]["Events"]["PackagesHealth"]

    with pytest.raises(OpenApiError, match="/api/admin/packages/health"):
        build(broken)
