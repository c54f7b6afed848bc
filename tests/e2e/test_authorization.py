"""Authorization over EVERY route template.yaml declares, through the local stack's gateway and the
same authorizer function AWS runs: admin routes need the admin token, client routes the client token,
the public page none; and no token ever reaches a log line."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest
import requests

from roamsync.domain.access import Role, required_role
from roamsync.observability import get_logger
from roamsync_dev.local_stack import LocalStack
from roamsync_dev.template import ApiRoute, api_routes, load_template

pytestmark = pytest.mark.e2e

ROUTES = api_routes(load_template())
SECURED = [r for r in ROUTES if not r.public]
ADMIN = [r for r in SECURED if required_role(r.path) is Role.ADMIN]
CLIENT = [r for r in SECURED if required_role(r.path) is Role.CLIENT]
PUBLIC = [r for r in ROUTES if r.public]
WRONG_TOKEN = "not-a-token-of-ours-5f1c9d"


def route_id(route: ApiRoute) -> str:
    return f"{route.method} {route.path}"


def call(stack: LocalStack, route: ApiRoute, token: str | None) -> requests.Response:
    """One request to `route` with ids that do not exist and, for a body, malformed JSON: a request
    the handler refuses (4xx) and that writes nothing, whatever token it carries."""
    path = re.sub(r"\{[^}]+\}", "no-such-id", route.path)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = "{not json" if route.method in ("POST", "PUT", "PATCH") else None
    return requests.request(
        route.method, f"{stack.gateway_url}{path}", headers=headers, data=body, timeout=30
    )


def test_every_route_is_admin_client_or_public() -> None:
    assert len(ADMIN) + len(CLIENT) + len(PUBLIC) == len(ROUTES)
    assert ADMIN and CLIENT


@pytest.mark.parametrize("route", ADMIN, ids=route_id)
def test_an_admin_route_needs_the_admin_token(local_stack: LocalStack, route: ApiRoute) -> None:
    anonymous = call(local_stack, route, None)
    client = call(local_stack, route, local_stack.client_token)
    wrong = call(local_stack, route, WRONG_TOKEN)
    admin = call(local_stack, route, local_stack.admin_token)

    assert anonymous.status_code == 401
    assert client.status_code == 403
    assert wrong.status_code == 403
    assert admin.status_code not in (401, 403), admin.text
    assert anonymous.json()["error"]["code"] == "unauthorized"
    assert client.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("route", CLIENT, ids=route_id)
def test_a_client_route_refuses_the_admin_token(local_stack: LocalStack, route: ApiRoute) -> None:
    anonymous = call(local_stack, route, None)
    admin = call(local_stack, route, local_stack.admin_token)
    wrong = call(local_stack, route, WRONG_TOKEN)
    client = call(local_stack, route, local_stack.client_token)

    assert anonymous.status_code == 401
    assert admin.status_code == 403
    assert wrong.status_code == 403
    assert client.status_code not in (401, 403), client.text


@pytest.mark.parametrize("route", PUBLIC, ids=route_id)
def test_a_public_route_needs_no_token(local_stack: LocalStack, route: ApiRoute) -> None:
    response = call(local_stack, route, None)

    assert response.status_code < 400, response.text


@pytest.fixture
def every_log_line() -> Iterator[io.StringIO]:
    """Everything logged at DEBUG and up while the test runs: the handlers' Powertools logger (its
    stream swapped for a buffer) and every standard logger (the gateway, botocore, urllib3)."""
    captured = io.StringIO()
    powertools = get_logger()
    streams = [h for h in powertools.handlers if isinstance(h, logging.StreamHandler)]
    saved_streams = [h.setStream(captured) for h in streams]
    saved_level = powertools.log_level
    powertools.setLevel("DEBUG")
    root = logging.getLogger()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(args)s"))
    saved_root_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_root_level)
        powertools.setLevel(saved_level)
        for h, stream in zip(streams, saved_streams, strict=True):
            h.setStream(stream)  # type: ignore[arg-type]


def test_no_token_is_ever_logged(local_stack: LocalStack, every_log_line: io.StringIO) -> None:
    # given every route called with the admin token, the client token and a wrong one
    assert local_stack.gateway is not None
    local_stack.gateway.clear_authorizer_cache()  # every call reaches the authorizer function
    for route in ROUTES:
        for token in (local_stack.admin_token, local_stack.client_token, WRONG_TOKEN):
            call(local_stack, route, token)

    logged = every_log_line.getvalue()

    # then the logs say what happened (the refused token is logged as a refusal) but hold no token
    assert "bearer token refused" in logged
    for token in (local_stack.admin_token, local_stack.client_token, WRONG_TOKEN):
        assert token not in logged


def test_no_token_or_roamify_key_is_logged_by_a_sync_a_checkout_an_order_or_an_admin_call(
    local_stack: LocalStack, every_log_line: io.StringIO
) -> None:
    # given a local stack whose Roamify key and tokens are known
    assert local_stack.gateway is not None and local_stack.roamify_api_key
    base = local_stack.gateway_url
    admin = {"Authorization": f"Bearer {local_stack.admin_token}"}
    client = {"Authorization": f"Bearer {local_stack.client_token}"}
    reseller_id = local_stack.simulator.package_ids()[0]

    # when a sync, an admin call, a checkout and an order run, everything logged at DEBUG
    sync = requests.post(f"{base}/api/admin/packages/sync", json={}, headers=admin, timeout=30)
    assert local_stack.gateway.wait_for_background(60)
    row = requests.post(
        f"{base}/api/admin/my-packages",
        json={"resellerId": reseller_id, "salePrice": "99.00"},
        headers=admin,
        timeout=30,
    )
    checkout = requests.post(
        f"{base}/api/checkout/validate", json={"myPackageId": row.json()["id"]}, headers=client, timeout=30
    )
    order = requests.post(
        f"{base}/api/orders",
        json={"myPackageId": row.json()["id"], "quantity": 1},
        headers={**client, "Idempotency-Key": "log-check-1"},
        timeout=30,
    )

    # then each call did its work, and no secret reached any log line
    assert sync.status_code in (200, 202), sync.text
    assert row.status_code == 201, row.text
    assert checkout.status_code in (200, 409), checkout.text
    assert order.status_code in (200, 201, 202, 409), order.text
    logged = every_log_line.getvalue()
    assert "sync finished" in logged
    for secret in (local_stack.admin_token, local_stack.client_token, local_stack.roamify_api_key):
        assert secret not in logged
