"""Orders function: `POST /api/orders` and `GET /api/orders/{orderId}` (client token).

POST needs an `Idempotency-Key` header (1-200 characters) and `{"myPackageId" | "packageId",
"quantity"}`. Replies (every error in the `{"error": {"code", "message"}}` shape):

* 201 placed by this request: `{orderId, status, packageId, originalPackageId, fallbackUsed,
  roamifyOrderId, referenceId}`;
* 200 the same key and body again: the same body as it stands now, with `Idempotent-Replayed:
  true`; nothing is placed (a 409 / 202 / 503 outcome is replayed with its own status);
* 202 UNKNOWN (Roamify failed and could not say whether the order exists; GET reconciles it),
  PENDING (another request with this key is still at work) or NEEDS_REVIEW (an upstream order
  exists but is not what was asked, or charged above the bound: `review` says how; nothing more
  is ordered, an operator settles it);
* 400 bad input, 404 unknown id, 422 the key was used for another body — nothing written or sent;
* 409 `{"error": {...}, "alternatives": [...]}`: the package is gone and nothing equivalent-or-
  better exists; nothing ordered;
* 503 + Retry-After: Roamify is down (breaker open: answered at once, nothing written; a refused
  connection or Roamify's own 503: answered at once) or failed with nothing ordered (the same key
  may be sent again and tries again);
* 502 Roamify rejected the order as malformed.

GET answers the order with its attempts, reconciling an UNKNOWN one first (lookups only).

Wiring per Lambda container: the Orders repository, a Roamify client with the order path's own
short timeouts and retries, and one circuit breaker, rebuilt only when the Container changes.

Time: the order budget (`ORDER_TIME_BUDGET_SECONDS`, never more than the Lambda context's
remaining time) is counted from handler entry, before the wiring and its secret fetch. On a
container's first invocation it starts earlier still, by the init the request waited for (this
module's import, measured, plus `RUNTIME_INIT_ALLOWANCE_SECONDS` for the runtime's own start):
API Gateway's 29 s were running all along.
"""

# ruff: noqa: E402 - the clock below must start before the imports it measures.
from __future__ import annotations

import time

_IMPORT_STARTED = time.monotonic()

import threading
from contextvars import ContextVar
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from roamsync.container import Container, get_container
from roamsync.deadline import Budget
from roamsync.domain.orders import FailureReason, IdempotencyKeyReused, OrderRequest, OrderStatus
from roamsync.http import error_response, json_response, new_resolver
from roamsync.observability import lambda_entrypoint
from roamsync.services.orders import (
    CircuitOpen,
    OrderPorts,
    Placement,
    get_order,
    place_order,
)

IDEMPOTENCY_KEY = "Idempotency-Key"
MAX_KEY_LENGTH = 200
MAX_ORDER_ID_LENGTH = 100
# The Lambda runtime's own start on a cold start, before this module is imported (not measurable here).
RUNTIME_INIT_ALLOWANCE_SECONDS = 0.5

app = new_resolver()

Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class OrderBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    myPackageId: Identifier | None = Field(default=None, description="the shop's own package id")
    packageId: Identifier | None = Field(default=None, description="a Roamify packageId")
    quantity: int = Field(ge=1, description="eSIMs to order, 1..ORDER_MAX_QUANTITY")


# --- the time budget -------------------------------------------------------------------------------


# This invocation's Lambda context and when its time budget started. Per request (a threaded local
# gateway runs several at once), not on the shared resolver.
_invocation: ContextVar[Budget | None] = ContextVar("orders_invocation", default=None)
_cold = True
_cold_lock = threading.Lock()


def _init_waited_for() -> float:
    """On the container's first invocation, the init it waited for (this module's import and the
    runtime's own start): the request's time started that much before handler entry. Else 0."""
    global _cold
    with _cold_lock:
        cold, _cold = _cold, False
    return _INIT_SECONDS + RUNTIME_INIT_ALLOWANCE_SECONDS if cold else 0.0


def _ports(container: Container) -> OrderPorts:
    # May fetch the Roamify key on first use: inside the budget, which started at handler entry.
    budget = _invocation.get() or Budget.start(None, monotonic=time.monotonic)
    return container.order_ports(budget.within(container.settings.order_time_budget_seconds))


# --- replies ----------------------------------------------------------------------------------------


def _retry_after_headers(seconds: int | None) -> dict[str, str]:
    return {"Retry-After": str(max(1, seconds or 1))}


def _reply(placement: Placement) -> Response[str]:
    order = placement.order
    headers = {"Idempotent-Replayed": "true"} if placement.replayed else {}
    if order.status is OrderStatus.PLACED:
        return json_response(200 if placement.replayed else 201, order.summary(), headers)
    if order.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN):
        return json_response(202, order.summary(), headers)
    if order.status is OrderStatus.NEEDS_REVIEW:
        return json_response(202, {**order.summary(), "review": list(order.review)}, headers)
    failure = order.failure
    assert failure is not None  # noqa: S101 - a FAILED order always carries its failure  # nosec B101
    error = {"code": failure.reason.value, "message": failure.message, "orderId": order.order_id}
    if failure.reason is FailureReason.NO_EQUIVALENT:
        return json_response(409, {"error": error, "alternatives": list(order.alternatives)}, headers)
    if failure.retryable:
        headers.update(_retry_after_headers(placement.retry_after_seconds))
        return json_response(503, {"error": error}, headers)
    return json_response(502, {"error": error}, headers)


@app.exception_handler(CircuitOpen)
def _circuit_open(exc: CircuitOpen) -> Response[str]:
    return json_response(
        503,
        {"error": {"code": "upstream_unavailable", "message": f"{exc}; nothing was ordered"}},
        _retry_after_headers(exc.retry_after_seconds),
    )


@app.exception_handler(IdempotencyKeyReused)
def _key_reused(exc: IdempotencyKeyReused) -> Response[str]:
    return error_response(422, "idempotency_key_reused", str(exc))


# --- routes -----------------------------------------------------------------------------------------


@app.post(
    "/api/orders",
    summary="Place an order, at most once per Idempotency-Key",
    responses={
        201: {"description": "placed"},
        200: {"description": "the same key again: the same order, nothing placed"},
        202: {
            "description": "outcome unknown or still in progress (GET the order later), or "
            "NEEDS_REVIEW: Roamify's order is not what was asked"
        },
        404: {"description": "no such package of the shop's"},
        409: {"description": "no equivalent-or-better package; alternatives offered"},
        422: {"description": "the key was used for a different body"},
        503: {"description": "Roamify is down; see Retry-After"},
    },
)
def create_order(body: Annotated[OrderBody, Body()]) -> Response[str]:
    key = app.current_event.headers.get(IDEMPOTENCY_KEY)
    if key is None or not key.strip():
        return error_response(400, "missing_idempotency_key", f"the {IDEMPOTENCY_KEY} header is required")
    if len(key) > MAX_KEY_LENGTH:
        return error_response(
            400,
            "invalid_idempotency_key",
            f"the {IDEMPOTENCY_KEY} header is at most {MAX_KEY_LENGTH} characters",
        )
    container = get_container()
    request = OrderRequest(my_package_id=body.myPackageId, package_id=body.packageId, quantity=body.quantity)
    return _reply(place_order(key, request, _ports(container), container.order_policy))


@app.get("/api/orders/<orderId>", summary="One order with its attempts")
def read_order(orderId: str) -> Response[str]:
    if len(orderId) > MAX_ORDER_ID_LENGTH:
        return error_response(404, "not_found", "no such order")
    container = get_container()
    return json_response(200, get_order(orderId, _ports(container), container.order_policy).detail())


@lambda_entrypoint(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = _invocation.set(Budget.start(context, earlier_by=_init_waited_for(), monotonic=time.monotonic))
    try:
        return app.resolve(event, context)
    finally:
        _invocation.reset(token)


# What this module's import took: on a cold start, part of the init the first request waited for.
_INIT_SECONDS = time.monotonic() - _IMPORT_STARTED
