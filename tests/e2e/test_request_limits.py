"""What the API refuses before any work: bodies over roamsync.http.MAX_BODY_BYTES (413, in the local
gateway and in every handler on its own), bodies that are not JSON (415), and cross-origin calls (the
dashboard is same-origin, so no route answers with CORS headers)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
import requests

from roamsync.http import MAX_BODY_BYTES
from roamsync_dev import lambda_runtime
from roamsync_dev.local_stack import LocalStack
from roamsync_dev.openapi import OPENAPI_FILE
from roamsync_dev.template import ApiRoute, api_routes, load_template

pytestmark = pytest.mark.e2e

ROUTES = api_routes(load_template())
WITH_BODY = [r for r in ROUTES if r.method in ("POST", "PUT", "PATCH")]
_DOCUMENT = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
TAKING_JSON = [r for r in WITH_BODY if "requestBody" in _DOCUMENT["paths"][r.path][r.method.lower()]]
OVERSIZED_VALID = json.dumps({"dryRun": False, "padding": "x" * MAX_BODY_BYTES})
OVERSIZED_MALFORMED = "{" + "x" * MAX_BODY_BYTES


def route_id(route: ApiRoute) -> str:
    return f"{route.method} {route.path}"


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "no-such-id", path)


def proxy_event(route: ApiRoute, body: str, content_type: str = "application/json") -> dict[str, Any]:
    """The API Gateway REST proxy event of an authorised request, for calling a handler directly."""
    path = concrete(route.path)
    params = dict.fromkeys(re.findall(r"\{([^}+]+)\+?\}", route.path), "no-such-id")
    headers = {"Content-Type": content_type, "Idempotency-Key": "limits-1"}
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": route.method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "requestId": "limits",
            "resourcePath": route.path,
            "httpMethod": route.method,
            "path": f"/local{path}",
            "stage": "local",
            "authorizer": {"principalId": "test"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def error_of(result: dict[str, Any]) -> tuple[int, str]:
    return result["statusCode"], json.loads(result["body"])["error"]["code"]


@pytest.mark.parametrize("route", WITH_BODY, ids=route_id)
def test_the_gateway_refuses_an_oversized_body_before_the_authorizer(
    local_stack: LocalStack, route: ApiRoute
) -> None:
    response = requests.request(
        route.method,
        f"{local_stack.gateway_url}{concrete(route.path)}",
        data=OVERSIZED_VALID,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("route", WITH_BODY, ids=route_id)
@pytest.mark.parametrize("body", [OVERSIZED_VALID, OVERSIZED_MALFORMED], ids=["valid-json", "malformed"])
def test_every_handler_refuses_an_oversized_body_itself(
    local_stack: LocalStack, route: ApiRoute, body: str
) -> None:
    # given a request that got past a gateway without the limit (as with a direct invoke)
    result = lambda_runtime.invoke(route.function, proxy_event(route, body), local_stack.template)

    assert error_of(result) == (413, "payload_too_large")


@pytest.mark.parametrize("route", TAKING_JSON, ids=route_id)
def test_an_oversized_multipart_body_is_still_a_413(local_stack: LocalStack, route: ApiRoute) -> None:
    event = proxy_event(route, OVERSIZED_VALID, content_type="multipart/form-data")

    result = lambda_runtime.invoke(route.function, event, local_stack.template)

    assert error_of(result) == (413, "payload_too_large")


@pytest.mark.parametrize("route", TAKING_JSON, ids=route_id)
def test_every_handler_answers_415_to_a_multipart_body(local_stack: LocalStack, route: ApiRoute) -> None:
    # a multipart Content-Type without its boundary once made Powertools raise (a 502)
    event = proxy_event(route, '{"dryRun": false}', content_type="multipart/form-data")

    result = lambda_runtime.invoke(route.function, event, local_stack.template)

    assert error_of(result) == (415, "unsupported_media_type")


def test_a_body_just_under_the_limit_is_read(local_stack: LocalStack) -> None:
    route = next(r for r in WITH_BODY if r.path == "/api/admin/packages/validate")
    body = json.dumps({"dryRun": True, "padding": "x" * (MAX_BODY_BYTES - 100)})

    result = lambda_runtime.invoke(route.function, proxy_event(route, body), local_stack.template)

    # read and refused for the unknown field, not for its size
    assert error_of(result) == (400, "invalid_request")


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_no_route_answers_a_cross_origin_preflight_with_cors_headers(
    local_stack: LocalStack, route: ApiRoute
) -> None:
    response = requests.options(
        f"{local_stack.gateway_url}{concrete(route.path)}",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": route.method,
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=30,
    )

    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.status_code >= 400


def test_a_cross_origin_call_gets_no_cors_headers(local_stack: LocalStack) -> None:
    response = requests.get(
        f"{local_stack.gateway_url}/api/admin/packages/health",
        headers={"Origin": "https://evil.example", "Authorization": f"Bearer {local_stack.admin_token}"},
        timeout=30,
    )

    assert response.status_code == 200
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


# ---- bodies the JSON parser cannot take ----------------------------------------------------------------
# Each is well under MAX_BODY_BYTES: a small body must not be able to crash a handler either.
UNREADABLE_BODIES = {
    "20000-nested-lists": "[" * 20_000 + "]" * 20_000,
    "10000-nested-objects": '{"a":' * 10_000 + "1" + "}" * 10_000,
    "nan-literal": '{"dryRun": NaN}',
    "infinity-literal": '{"dryRun": -Infinity}',
    "truncated": '{"dryRun": tr',
}
# Numbers JSON allows but no field can hold: a clear 400 too (the field's validation says which).
HUGE_NUMBERS = {
    "5000-digits": "9" * 5_000,
    "huge-exponent": "1e999",
    "tiny-exponent": "1e-999",
    "negative-huge-exponent": "-1e400",
}
# The number field each route reads (one that exists, so the number itself is what is refused).
NUMBER_FIELD = {
    "/api/orders": "quantity",
    "/api/admin/my-packages": "salePrice",
    "/api/admin/my-packages/{id}": "salePrice",
}


def _row_counts(stack: LocalStack) -> dict[str, int]:
    client = stack.dynamodb_client()
    return {
        lid: client.scan(TableName=name, Select="COUNT", ConsistentRead=True)["Count"]
        for lid, name in stack.table_names.items()
    }


@pytest.mark.parametrize("route", TAKING_JSON, ids=route_id)
@pytest.mark.parametrize("body", list(UNREADABLE_BODIES.values()), ids=list(UNREADABLE_BODIES))
def test_a_body_the_json_parser_cannot_take_is_a_400_malformed_json_and_writes_nothing(
    local_stack: LocalStack, route: ApiRoute, body: str
) -> None:
    before = _row_counts(local_stack)

    result = lambda_runtime.invoke(route.function, proxy_event(route, body), local_stack.template)

    assert error_of(result) == (400, "malformed_json"), result
    assert set(json.loads(result["body"])["error"]) == {"code", "message"}
    assert _row_counts(local_stack) == before


@pytest.mark.parametrize("route", TAKING_JSON, ids=route_id)
def test_a_body_that_is_not_utf8_is_a_400_malformed_json(local_stack: LocalStack, route: ApiRoute) -> None:
    event = proxy_event(route, "")
    event.update(body=base64.b64encode(b'{"dryRun": "\xff\xfe"}').decode(), isBase64Encoded=True)

    result = lambda_runtime.invoke(route.function, event, local_stack.template)

    assert error_of(result) == (400, "malformed_json"), result


@pytest.mark.parametrize("route", TAKING_JSON, ids=route_id)
@pytest.mark.parametrize("number", list(HUGE_NUMBERS.values()), ids=list(HUGE_NUMBERS))
def test_a_number_no_field_can_hold_is_a_400_and_writes_nothing(
    local_stack: LocalStack, route: ApiRoute, number: str
) -> None:
    before = _row_counts(local_stack)
    field = NUMBER_FIELD.get(route.path, "dryRun")

    result = lambda_runtime.invoke(
        route.function, proxy_event(route, f'{{"{field}": {number}}}'), local_stack.template
    )

    status, code = error_of(result)
    assert (status, code) in {(400, "invalid_request"), (400, "malformed_json")}, result
    assert _row_counts(local_stack) == before


@pytest.mark.parametrize(
    "body", ["[" * 20_000 + "]" * 20_000, '{"packageId": "x", "quantity": ' + "9" * 5_000 + "}"]
)
def test_an_order_with_an_unreadable_body_is_a_400_through_the_gateway_and_nothing_is_ordered(
    local_stack: LocalStack, body: str
) -> None:
    assert local_stack.simulator is not None
    orders_before = len(local_stack.simulator.orders)
    before = _row_counts(local_stack)

    response = requests.post(
        f"{local_stack.gateway_url}/api/orders",
        data=body,
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {local_stack.client_token}",
            "Idempotency-Key": "unreadable-body-1",
        },
        timeout=30,
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in {"malformed_json", "invalid_request"}
    assert _row_counts(local_stack) == before
    assert len(local_stack.simulator.orders) == orders_before
