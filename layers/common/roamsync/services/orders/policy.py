"""The rules order placement runs by: its settings, the price bound a stand-in and Roamify's answer
are held to, and what an upstream failure says about whether anything was created."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from roamsync.domain.equivalence import RegionFallbacks
from roamsync.domain.errors import (
    RateLimited,
    UpstreamAuthError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    UpstreamUnreachable,
)
from roamsync.domain.orders import Attempt, AttemptOutcome, Order, price_bound, review_reasons
from roamsync.observability import add_count, get_logger
from roamsync.services.orders.breaker import CircuitBreaker, CircuitOpen
from roamsync.services.ports import Clock, MyPackageLookup, OrderStore, PackageLookup, RoamifyOrders
from roamsync.settings import Settings

# Backoff sleeps between the order path's GET retries never exceed this (a 429's Retry-After included).
RETRY_SLEEP_CAP_SECONDS = 1.0
# A create call gets at least this long to answer (or its configured timeout, if shorter).
MIN_CREATE_READ_SECONDS = 1.0
# Spacing of repeated lookups (and of retried questions to Roamify): starts here, doubles, capped.
LOOKUP_INTERVAL_SECONDS = 0.25
LOOKUP_INTERVAL_CAP_SECONDS = 1.0


def lookup_reserve_seconds(settings: Settings) -> float:
    """What one lookup on the order path needs at most (connect and read once): a question to
    Roamify is only started with this much time left, and a create leaves this much after it."""
    return settings.roamify_connect_timeout_seconds + settings.order_lookup_timeout_seconds


def region_fallbacks_from(settings: Settings) -> RegionFallbacks:
    """The built-in region fallbacks with ORDER_REGION_FALLBACKS (JSON) laid over them."""
    base = RegionFallbacks.default()
    if settings.order_region_fallbacks:
        return base.with_overrides(RegionFallbacks.from_json(settings.order_region_fallbacks))
    return base


@dataclass(frozen=True)
class OrderPolicy:
    """The settings values order placement runs by."""

    max_quantity: int = 10
    max_attempts: int = 10
    max_price_increase: Decimal | float = Decimal("0.10")
    connect_timeout: float = 3.05
    create_timeout: float = 8.0
    lookup_reserve: float = 12.0
    margin: float = 1.5
    unknown_grace: float = 120.0
    region_fallbacks: RegionFallbacks = field(default_factory=RegionFallbacks.default)
    alternatives_limit: int = 5
    poll_interval: float = 0.05
    # After a create answered 500 for a package that still exists, lookups keep looking this long
    # before "not found" counts: a commit can take that long to show (read-after-write is not promised).
    commit_visibility: float = 3.0
    lookup_interval: float = LOOKUP_INTERVAL_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> OrderPolicy:
        return cls(
            max_quantity=settings.order_max_quantity,
            max_attempts=settings.order_max_attempts,
            max_price_increase=settings.fallback_max_price_increase,
            connect_timeout=settings.roamify_connect_timeout_seconds,
            create_timeout=settings.order_create_timeout_seconds,
            lookup_reserve=lookup_reserve_seconds(settings),
            margin=settings.order_deadline_margin_seconds,
            unknown_grace=settings.order_unknown_grace_seconds,
            region_fallbacks=region_fallbacks_from(settings),
            commit_visibility=settings.order_commit_visibility_seconds,
        )


@dataclass(frozen=True)
class OrderPorts:
    """The adapters order placement uses; `remaining` tells the seconds left for this request."""

    orders: OrderStore
    packages: PackageLookup
    my_packages: MyPackageLookup
    roamify: RoamifyOrders
    breaker: CircuitBreaker
    clock: Clock
    remaining: Callable[[], float]
    sleep: Callable[[float], None] = time.sleep


def settle_found(
    order: Order, attempt: Attempt, upstream: dict[str, Any], now: datetime, unit_bound: Decimal | None
) -> Order:
    """`order` settled by `attempt`, whose upstream order is `upstream` (answered or found by a
    lookup): PLACED when Roamify's order is what was asked within the price bound, else NEEDS_REVIEW
    with the reasons (counted in OrdersNeedingReview, which an alarm watches)."""
    roamify_id = str(upstream["id"])
    settled = attempt if attempt.outcome.created else None
    order = (
        order
        if settled is not None
        else order.settle_attempt(
            AttemptOutcome.FOUND, now, roamify_order_id=roamify_id, attempt=attempt.attempt
        )
    )
    if attempt.attempt != len(order.attempts):
        get_logger().warning(
            "an earlier attempt's order turned up late; the order is placed by it",
            extra={"order_id": order.order_id, "attempt": attempt.attempt, "roamify_order_id": roamify_id},
        )
        add_count("OrderLateCommitsFound")
    reasons = review_reasons(
        upstream,
        package_id=attempt.package_id,
        quantity=order.request.quantity,
        reference_id=attempt.reference_id,
        unit_bound=unit_bound,
    )
    if reasons:
        get_logger().error(
            "Roamify's order is not what was asked; it needs review",
            extra={"order_id": order.order_id, "roamify_order_id": roamify_id, "review": list(reasons)},
        )
        add_count("OrdersNeedingReview")
    return order.settled_by(roamify_id, now, reasons)


def unit_bound_of(order: Order, ports: OrderPorts, policy: OrderPolicy) -> Decimal | None:
    """The most one unit of `order` may be charged, from its original package's synced price."""
    original = ports.packages.get(order.original_package_id)
    return price_bound(original.price, policy.max_price_increase) if original is not None else None


def error_kind(exc: UpstreamError) -> str:
    """A short, countable label for an upstream failure."""
    if isinstance(exc, CircuitOpen):
        return "circuit_open"
    if isinstance(exc, UpstreamUnreachable):
        return "unreachable"
    if isinstance(exc, UpstreamTimeout):
        return "timeout"
    if isinstance(exc, RateLimited):
        return "rate_limited"
    if isinstance(exc, UpstreamAuthError):
        return "auth"
    return f"http_{exc.status}" if exc.status else "bad_response"


def down_by_roamify(exc: UpstreamError) -> bool:
    """True for Roamify's own 503 (its JSON error body): it is down, and created nothing."""
    return isinstance(exc, UpstreamUnavailable) and exc.status == 503 and exc.answered


def answered_by_roamify(exc: UpstreamError) -> bool:
    """True when a failed create was answered by Roamify itself: a 500 with its own JSON error body.

    Only then is the request known to be finished, so that a lookup finding nothing proves nothing
    was created. A timeout, a proxy's 502/503/504, a 5xx without Roamify's body or a 2xx that could
    not be read all leave the request possibly still at work upstream.
    """
    return isinstance(exc, UpstreamUnavailable) and exc.status == 500 and exc.answered
