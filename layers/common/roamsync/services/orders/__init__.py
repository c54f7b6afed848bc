"""Order placement: one upstream order per request, never a silent downgrade.

The path of `place_order`:

1. The Idempotency-Key maps to the order id (uuid5); one GetItem finds an earlier request's order.
   Same key and same body → that order, nothing placed (an UNKNOWN one is reconciled first, one
   still being worked on is waited for). Same key, different body → IdempotencyKeyReused (422).
2. Bad input (unknown ids, both or neither id, quantity out of range) fails before anything is
   written or sent. An open circuit breaker answers CircuitOpen (503 + Retry-After) before the
   Orders record is written either: nothing was tried, so the same key may simply be sent again.
3. The Orders record is created PENDING with a conditional write: of two concurrent requests with
   one key exactly one gets here; the other waits for its outcome.
4. Attempt n is saved (package, referenceId ``{orderId}-a{n}``) and then sent: `create_order`
   once, its read timeout bounded by the time left minus what a lookup needs afterwards. Before
   attempt n > 1 is started, every earlier attempt's referenceId is looked up again: an earlier
   request that committed late is found (→ PLACED by it, no further attempt), and a lookup that
   fails stops the request (UNKNOWN) rather than risk a second order.
5. A 5xx, a timeout or an unreadable answer may still have created the order, so the order is
   looked up by that referenceId first: found → PLACED, no fallback. Only Roamify's own answer —
   a 500 carrying its JSON error body (`UpstreamUnavailable.answered`) — means the request is
   finished; not found after it → nothing was created; then, if the package is gone (inactive or
   missing in the catalog, or unknown to Roamify's package lookup) the cheapest equivalent-or-
   better package is tried as the next attempt under a new referenceId; if the package still
   exists the same package is tried again under a new referenceId. Not found after a *timeout*, a
   proxy's 502/503/504, a 5xx without Roamify's JSON body or a 2xx that could not be read proves
   nothing (the request may still be at work behind the proxy), and a lookup that fails proves
   nothing: the order is UNKNOWN (202) and `get_order` reconciles it later by looking up every
   attempt, "not found" counting only once `unknown_grace` has passed.
6. No equivalent-or-better package → FAILED with ranked alternatives (409): nothing ordered.
   A package known inactive before ordering goes straight to step 5's fallback. The replacement
   must be equivalent or better for the customer's destination, or, when that is not known (a
   multi-country package bought as is), for every country the original covers.

Every transition is saved with optimistic locking (`OrderStore.save(order, expected_version)`).
A FAILED order that certainly ordered nothing and failed for a passing reason (Roamify down, out
of time) is *retryable*: the same key and body again re-drives it with new attempts.

Powertools idempotency is not used, on purpose. Its record is deleted when the decorated function
raises, so wrapping the upstream call (or anything after it) would let a retry place a second
order; and everything it would add — a conditional first write, a payload hash, replaying the
stored answer — the Orders record already does, with states that survive a crash mid-call. The
GET route is read-only and needs no idempotency at all.
"""

from roamsync.services.orders.breaker import BREAKER_FAILURES, BreakerState, CircuitBreaker, CircuitOpen
from roamsync.services.orders.placement import Placement, get_order, place_order
from roamsync.services.orders.policy import (
    LOOKUP_INTERVAL_CAP_SECONDS,
    LOOKUP_INTERVAL_SECONDS,
    MIN_CREATE_READ_SECONDS,
    RETRY_SLEEP_CAP_SECONDS,
    OrderPolicy,
    OrderPorts,
    answered_by_roamify,
    down_by_roamify,
    error_kind,
    lookup_reserve_seconds,
    region_fallbacks_from,
    settle_found,
    unit_bound_of,
)
from roamsync.services.orders.reconcile import reconcile

__all__ = [
    "BREAKER_FAILURES",
    "LOOKUP_INTERVAL_CAP_SECONDS",
    "LOOKUP_INTERVAL_SECONDS",
    "MIN_CREATE_READ_SECONDS",
    "RETRY_SLEEP_CAP_SECONDS",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpen",
    "OrderPolicy",
    "OrderPorts",
    "Placement",
    "answered_by_roamify",
    "down_by_roamify",
    "error_kind",
    "get_order",
    "lookup_reserve_seconds",
    "place_order",
    "reconcile",
    "region_fallbacks_from",
    "settle_found",
    "unit_bound_of",
]
