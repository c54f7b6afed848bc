"""Checkout function: `POST /api/checkout/validate` (client token) and
`DELETE /api/admin/packages/validation-cache` (admin token).

Validation answers 200 for `proceed` and `warn`, 409 for `block`; bad input is a 400 and an unknown
id a 404, both in the error shape and with nothing cached. Roamify is only contacted (and its client
only built) when the cache has no fresh answer.

Roamify gets the time this invocation has left (the Lambda context's remaining time, counted from
handler entry) less `CHECKOUT_DEADLINE_MARGIN_SECONDS` for the cache write and the reply: its
timeouts, retries and waits — a 429's Retry-After included — fit in that, and when it runs out
the answer is `warn` (upstream_unreachable), well before the function's own timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from roamsync.container import CHECKOUT_DEADLINE_MARGIN_SECONDS, CHECKOUT_TIME_BUDGET_SECONDS, get_container
from roamsync.deadline import Budget
from roamsync.http import json_response, new_resolver
from roamsync.observability import add_count, lambda_entrypoint

app = new_resolver()

# This invocation's Lambda context and the monotonic time the handler was entered. Per request (a
# threaded local gateway runs several at once), not on the shared resolver.
_invocation: ContextVar[Budget | None] = ContextVar("checkout_invocation", default=None)


def _remaining_time() -> Callable[[], float]:
    """Seconds left for Roamify: the Lambda's remaining time (or, with no context, the function's
    budget counted from handler entry) less the margin kept for the cache write and the reply."""
    budget = _invocation.get() or Budget.start(None, monotonic=time.monotonic)
    return budget.within(CHECKOUT_TIME_BUDGET_SECONDS, margin_seconds=CHECKOUT_DEADLINE_MARGIN_SECONDS)


Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class CheckoutRequest(BaseModel):
    """Exactly one of the two ids (checked by the service, which says which rule was broken)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    myPackageId: Identifier | None = Field(default=None, description="the shop's own package id")
    packageId: Identifier | None = Field(default=None, description="a Roamify packageId")


@app.post(
    "/api/checkout/validate",
    summary="May this package be sold right now?",
    responses={
        200: {"description": "proceed, or warn with a reason"},
        404: {"description": "no such package of the shop's"},
        409: {
            "description": "block, with ranked alternatives: every equivalent-or-better plan first, "
            "cheapest first, each with its priceDifference and withinFallbackBound; then the "
            "downgrades with their reasons"
        },
    },
)
def validate(body: Annotated[CheckoutRequest, Body()]) -> Response[str]:
    remaining = _remaining_time()  # counted from handler entry, before any wiring
    answer = get_container().checkout(
        my_package_id=body.myPackageId, package_id=body.packageId, remaining=remaining
    )
    return json_response(answer.http_status, answer.body())


@app.delete(
    "/api/admin/packages/validation-cache",
    summary="Drop every cached checkout validation",
    responses={200: {"description": "cleared; `generation` is the cache's new generation"}},
)
def clear_validation_cache() -> Response[str]:
    generation = get_container().validation_cache.clear()
    add_count("CheckoutCacheClears")
    return json_response(200, {"status": "success", "generation": generation})


@lambda_entrypoint(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = _invocation.set(Budget.start(context, monotonic=time.monotonic))
    try:
        return app.resolve(event, context)
    finally:
        _invocation.reset(token)
