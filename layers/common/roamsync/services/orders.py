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

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ParamSpec, Protocol, TypeVar

from roamsync.domain.equivalence import RegionFallbacks, destinations_for, rank_alternatives_for
from roamsync.domain.errors import (
    BadRequest,
    Conflict,
    NotFound,
    RateLimited,
    UpstreamAuthError,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    UpstreamUnreachable,
)
from roamsync.domain.orders import (
    Attempt,
    AttemptOutcome,
    FailureReason,
    IdempotencyKeyReused,
    Order,
    OrderRequest,
    OrderStatus,
    alternative_view,
    choose_fallback,
    order_id_for,
    price_bound,
    review_reasons,
)
from roamsync.domain.packages import Package
from roamsync.observability import add_count, get_logger
from roamsync.services.catalog import (
    MyPackageLookup,
    PackageLookup,
    Target,
    candidate_packages,
    resolve_target,
)
from roamsync.services.ports import Clock
from roamsync.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")

# Backoff sleeps between the order path's GET retries never exceed this (a 429's Retry-After included).
RETRY_SLEEP_CAP_SECONDS = 1.0
# A create call gets at least this long to answer (or its configured timeout, if shorter).
MIN_CREATE_READ_SECONDS = 1.0
# Spacing of repeated lookups (and of retried questions to Roamify): starts here, doubles, capped.
LOOKUP_INTERVAL_SECONDS = 0.25
LOOKUP_INTERVAL_CAP_SECONDS = 1.0


# --- ports ----------------------------------------------------------------------------------------


class OrderStore(Protocol):
    def create(self, order: Order) -> Order: ...

    def save(self, order: Order, expected_version: int) -> Order: ...

    def get(self, order_id: str) -> Order | None: ...


class RoamifyOrders(Protocol):
    def create_order(
        self, package_id: str, quantity: int, reference_id: str, *, timeout: tuple[float, float] | None = None
    ) -> dict[str, Any]: ...

    def find_order(
        self,
        *,
        reference_id: str | None = None,
        order_id: str | None = None,
        remaining: Callable[[], float] | None = None,
    ) -> dict[str, Any] | None:
        """The upstream order, or None only when Roamify documentedly said there is none."""
        ...

    def current_price(
        self, package_id: str, *, remaining: Callable[[], float] | None = None
    ) -> Decimal | None:
        """The price Roamify lists the package at now; None when it does not list it."""
        ...


# --- circuit breaker ------------------------------------------------------------------------------


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(UpstreamUnavailable):
    """The breaker is open: nothing was sent to Roamify. `retry_after_seconds` says when to retry."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after_seconds = max(1, math.ceil(retry_after))
        super().__init__(f"Roamify is failing; calls are paused for {self.retry_after_seconds} s")


# What says "Roamify is down or drowning": answered 4xx mean it is up and judging the request.
BREAKER_FAILURES = (UpstreamTimeout, UpstreamUnavailable, RateLimited)


def _publish_state(old: BreakerState, new: BreakerState) -> None:
    get_logger().warning("roamify circuit breaker changed state", extra={"from": old.value, "to": new.value})
    add_count("OrderBreakerStateChanges", state=new.value)


class CircuitBreaker:
    """Consecutive-failure circuit breaker for the Roamify calls of one Lambda container.

    Closed: calls go through; `failure_threshold` consecutive failures (timeouts, 5xx, 429) open
    it. Open: calls fail at once with CircuitOpen for `cooldown_seconds`. Then half-open: one trial
    call goes through (others still fail fast); its success closes the breaker, its failure opens
    it for another cooldown. Thread-safe; the lock is never held while Roamify is called.

    Hand-written rather than pybreaker: pybreaker holds one lock for the whole guarded call (so a
    threaded local gateway would call Roamify one request at a time), reads the wall clock with no
    way to inject one (so the cooldown cannot be tested without sleeping), has no public "may I
    call, and when may I retry" question (needed to answer 503 + Retry-After *before* writing the
    Orders record) and lets every caller through while half-open.
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        cooldown_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState, BreakerState], None] = _publish_state,
    ) -> None:
        if failure_threshold < 1 or cooldown_seconds <= 0:
            raise ValueError("failure_threshold must be >= 1 and cooldown_seconds > 0")
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state

    def retry_after(self) -> float:
        """Seconds until a call would be let through; 0 when one would be now."""
        with self._lock:
            if self._state is BreakerState.OPEN:
                return max(0.0, self._opened_at + self.cooldown_seconds - self._clock())
            if self._state is BreakerState.HALF_OPEN and self._trial_in_flight:
                return 1.0
            return 0.0

    def allows(self) -> bool:
        """True when a call made now would reach Roamify."""
        return self.retry_after() == 0.0

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` unless the breaker is open (CircuitOpen, nothing called).

        Timeouts, 5xx and 429 count as failures; any other answer, an answered 4xx included,
        counts as Roamify being up. The call's own exception is re-raised unchanged.
        """
        trial = self._admit()
        try:
            result = fn(*args, **kwargs)
        except BREAKER_FAILURES:
            self._record(failed=True, trial=trial)
            raise
        except UpstreamError:
            self._record(failed=False, trial=trial)
            raise
        except BaseException:
            if trial:
                self._release_trial()
            raise
        self._record(failed=False, trial=trial)
        return result

    def _admit(self) -> bool:
        """Let a call through or raise CircuitOpen; True when the call is the half-open trial."""
        change = None
        trial = False
        with self._lock:
            if self._state is BreakerState.OPEN:
                waited = self._clock() - self._opened_at
                if waited < self.cooldown_seconds:
                    raise CircuitOpen(self.cooldown_seconds - waited)
                change = (self._state, BreakerState.HALF_OPEN)
                self._state = BreakerState.HALF_OPEN
            if self._state is BreakerState.HALF_OPEN:
                if self._trial_in_flight:
                    raise CircuitOpen(1.0)
                self._trial_in_flight = trial = True
        if change:
            self._on_change(*change)
        return trial

    def _release_trial(self) -> None:
        with self._lock:
            self._trial_in_flight = False

    def _record(self, *, failed: bool, trial: bool) -> None:
        change = None
        with self._lock:
            old = self._state
            if trial:
                # Only the trial decides the half-open state: its outcome closes or reopens it.
                self._trial_in_flight = False
                self._failures = 0 if not failed else self._failures + 1
                self._state = BreakerState.OPEN if failed else BreakerState.CLOSED
                if failed:
                    self._opened_at = self._clock()
            elif old is BreakerState.CLOSED:
                # A call admitted while closed counts only while it is still closed: one that ends
                # after the breaker opened (or during the trial) says nothing the trial does not.
                self._failures = self._failures + 1 if failed else 0
                if self._failures >= self.failure_threshold:
                    self._state = BreakerState.OPEN
                    self._opened_at = self._clock()
            if self._state is not old:
                change = (old, self._state)
        if change:
            self._on_change(*change)


# --- what the service is given ----------------------------------------------------------------------


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


@dataclass(frozen=True)
class Placement:
    """What one POST came to. `replayed`: an earlier request's order, nothing placed by this one."""

    order: Order
    replayed: bool
    retry_after_seconds: int | None = None


# --- the service ------------------------------------------------------------------------------------


def place_order(
    idempotency_key: str, request: OrderRequest, ports: OrderPorts, policy: OrderPolicy
) -> Placement:
    """Place `request` at most once under `idempotency_key` (see the module docstring).

    Raises BadRequest / NotFound for bad input (nothing written, nothing sent), IdempotencyKeyReused
    when the key was used with another body, CircuitOpen when Roamify is known to be down (nothing
    written), StorageError when DynamoDB fails.
    """
    if not idempotency_key:
        raise BadRequest("an Idempotency-Key is required")
    if not 1 <= request.quantity <= policy.max_quantity:
        raise BadRequest(f"quantity must be between 1 and {policy.max_quantity}")
    order_id = order_id_for(idempotency_key)
    existing = ports.orders.get(order_id)
    if existing is not None:
        return _replay(existing, request, ports, policy)
    target = resolve_target(
        my_package_id=request.my_package_id,
        package_id=request.package_id,
        packages=ports.packages,
        my_packages=ports.my_packages,
    )
    if not ports.breaker.allows():
        add_count("Orders", outcome="circuit_open")
        raise CircuitOpen(ports.breaker.retry_after())
    order = Order.new(
        idempotency_key,
        request,
        reseller_id=target.reseller_id,
        destination=target.destination,
        now=ports.clock(),
    )
    try:
        order = ports.orders.create(order)
    except Conflict:
        # Another request with this key got there first: answer with its order.
        winner = ports.orders.get(order_id)
        if winner is None:
            raise
        return _replay(winner, request, ports, policy)
    order = _Driver(ports, policy, target).drive(order)
    return _published(Placement(order, replayed=False, retry_after_seconds=_retry_after(order)))


def get_order(order_id: str, ports: OrderPorts, policy: OrderPolicy) -> Order:
    """The order with its attempts, an UNKNOWN (or abandoned) one reconciled first. Raises NotFound."""
    order = ports.orders.get(order_id)
    if order is None:
        raise NotFound(f"no order {order_id!r}")
    return reconcile(order, ports, policy)


def reconcile(order: Order, ports: OrderPorts, policy: OrderPolicy) -> Order:
    """Settle an UNKNOWN order (or a PENDING one whose worker died) by looking up every attempt.

    Each attempt that was sent is looked up by its referenceId, the earlier ones included (a late
    commit of attempt 1 counts as much as one of the latest). Found → PLACED by that attempt. None
    found → FAILED (retryable: nothing was ordered), except that "not found" for an attempt whose
    failure was not Roamify's own answer (a timeout, a proxy's 5xx, an unreadable reply) proves
    nothing until `policy.unknown_grace` seconds have passed. Any lookup failing → unchanged.
    Never creates an upstream order.
    """
    now = ports.clock()
    try:
        if order.is_stale_pending(now):
            order = ports.orders.save(order.unknown(now), order.version)
        if order.status is not OrderStatus.UNKNOWN:
            return order
        driver = _Driver(ports, policy, None)
        inconclusive = False
        for attempt in order.attempts:
            if not attempt.sent:
                continue
            lookup = driver.lookup(attempt.reference_id)
            if isinstance(lookup, dict):
                settled = settle_found(order, attempt, lookup, now, unit_bound_of(order, ports, policy))
                order = ports.orders.save(settled, order.version)
                _log_outcome(order, "order reconciled as placed")
                add_count("OrdersReconciled", outcome=order.status.value.lower())
                return order
            inconclusive = inconclusive or lookup is _INCONCLUSIVE
        if inconclusive:
            return order
        attempt_in_doubt = order.open_attempt
        if attempt_in_doubt is not None:
            age = (now - attempt_in_doubt.at).total_seconds()
            # Roamify's own 500 finished the request: "not found" counts once a commit had time to show.
            conclusive = (
                attempt_in_doubt.outcome is AttemptOutcome.UNKNOWN
                and attempt_in_doubt.answered
                and age >= policy.commit_visibility
            )
            old_enough = age >= policy.unknown_grace
            if not (conclusive or old_enough):
                return order
            order = order.settle_attempt(AttemptOutcome.NOT_PLACED, now)
        failed = order.failed(
            FailureReason.UNAVAILABLE,
            "Roamify has no order for this request; nothing was ordered",
            now,
            retryable=True,
        )
        order = ports.orders.save(failed, order.version)
        _log_outcome(order, "order reconciled as not placed")
        add_count("OrdersReconciled", outcome="not_placed")
        return order
    except Conflict:
        # Someone else moved it on meanwhile: theirs is the newer truth.
        fresh = ports.orders.get(order.order_id)
        return fresh if fresh is not None else order


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


def _replay(order: Order, request: OrderRequest, ports: OrderPorts, policy: OrderPolicy) -> Placement:
    if order.request_hash != request.fingerprint():
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used for a different request; use a new key"
        )
    order = _await_worker(order, ports, policy)
    order = reconcile(order, ports, policy)
    if not order.retryable:
        add_count("OrderReplays")
        return Placement(order, replayed=True, retry_after_seconds=_retry_after(order))
    # Failed for a passing reason with nothing ordered: this request tries again.
    if not ports.breaker.allows():
        retry_after = math.ceil(ports.breaker.retry_after()) or 1
        return Placement(order, replayed=True, retry_after_seconds=retry_after)
    target = resolve_target(
        my_package_id=request.my_package_id,
        package_id=request.package_id,
        packages=ports.packages,
        my_packages=ports.my_packages,
    )
    try:
        order = ports.orders.save(order.redriven(ports.clock()), order.version)
    except Conflict:
        fresh = ports.orders.get(order.order_id) or order
        return Placement(
            _await_worker(fresh, ports, policy), replayed=True, retry_after_seconds=_retry_after(fresh)
        )
    order = _Driver(ports, policy, target).drive(order)
    return _published(Placement(order, replayed=False, retry_after_seconds=_retry_after(order)))


def _await_worker(order: Order, ports: OrderPorts, policy: OrderPolicy) -> Order:
    """While another request works on the order (PENDING), poll it until it settles or time runs out."""
    delay = policy.poll_interval
    while order.status is OrderStatus.PENDING and not order.is_stale_pending(ports.clock()):
        if ports.remaining() - policy.margin <= delay:
            break
        ports.sleep(delay)
        delay = min(delay * 2, 0.5)
        order = ports.orders.get(order.order_id) or order
    return order


def _retry_after(order: Order) -> int | None:
    if order.failure is not None and order.failure.retryable:
        return order.failure.retry_after_seconds or 1
    return None


def _published(placement: Placement) -> Placement:
    order = placement.order
    add_count("Orders", outcome=order.status.value.lower())
    add_count("OrderAttempts", value=len(order.attempts))
    if order.status is OrderStatus.PLACED and order.fallback_used:
        add_count("OrderFallbacksUsed")
    _log_outcome(order, "order request finished")
    return placement


def _log_outcome(order: Order, message: str) -> None:
    get_logger().info(
        message,
        extra={
            "order_id": order.order_id,
            "status": order.status.value,
            "package_id": order.package_id,
            "original_package_id": order.original_package_id,
            "fallback_used": order.fallback_used,
            "attempts": len(order.attempts),
            "roamify_order_id": order.roamify_order_id,
            "failure": order.failure.reason.value if order.failure else None,
        },
    )


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


class _Step(StrEnum):
    DONE = "done"  # the order is saved in its final state for this request
    GONE = "gone"  # nothing was created and the package is gone: try a fallback
    RETRY = "retry"  # nothing was created and the package exists: try it again


class _Sentinel(StrEnum):
    NOT_FOUND = "not_found"
    INCONCLUSIVE = "inconclusive"


_NOT_FOUND = _Sentinel.NOT_FOUND
_INCONCLUSIVE = _Sentinel.INCONCLUSIVE


class _Driver:
    """Works one order from PENDING to where this request can take it."""

    def __init__(self, ports: OrderPorts, policy: OrderPolicy, target: Target | None) -> None:
        self.ports = ports
        self.policy = policy
        self.target = target
        self.gone: set[str] = set()
        self._candidates: list[Package] | None = None

    # --- the loop -------------------------------------------------------------------------------

    def drive(self, order: Order) -> Order:
        target = self._require_target()
        package: Package | None = target.package
        if not target.sellable:
            # Known stale before ordering: no doomed upstream call, straight to the fallback.
            self.gone.add(target.reseller_id)
            package = self.fallback()
        # Bounded by the time the request has; the attempt cap only bounds the record's size.
        while len(order.attempts) < self.policy.max_attempts:
            if package is not None and package.reseller_id != target.reseller_id:
                confirmed = self.confirm_stand_in(package)
                if confirmed is _INCONCLUSIVE:
                    return self.unavailable(order, "the stand-in's current price could not be confirmed")
                if confirmed is not True:
                    package = self.fallback()
                    continue
            if package is None:
                return self.no_equivalent(order)
            if order.attempts and self.time_for_create():
                order, settled = self.recheck_earlier(order)
                if settled:
                    return order
            if not self.time_for_create():
                return self.unavailable(order, "not enough time was left to place the order safely")
            order = self.save(order.start_attempt(package.reseller_id, self.ports.clock()))
            order, step = self.attempt(order, package)
            if step is _Step.DONE:
                return order
            if step is _Step.GONE:
                self.gone.add(package.reseller_id)
                package = self.fallback()
        return self.unavailable(
            order, f"Roamify failed {self.policy.max_attempts} times; nothing was ordered"
        )

    def confirm_stand_in(self, package: Package) -> bool | _Sentinel:
        """Ask Roamify for the stand-in's price now: True when it is still listed within the bound.
        Otherwise it is excluded (gone, or dearer than the bound since the last sync) and False;
        _INCONCLUSIVE when Roamify could not say in the time left (nothing may be ordered then)."""
        price = self.ask(self.ports.roamify.current_price, package.reseller_id)
        if isinstance(price, _Sentinel):
            return _INCONCLUSIVE
        bound = self.unit_bound()
        if price is None or (bound is not None and price > bound):
            get_logger().warning(
                "a stand-in is not ordered: gone, or priced above the bound since the last sync",
                extra={"package_id": package.reseller_id, "price": str(price), "bound": str(bound)},
            )
            add_count("OrderStandInsRefused", reason="gone" if price is None else "price")
            self.gone.add(package.reseller_id)
            return False
        return True

    def attempt(self, order: Order, package: Package) -> tuple[Order, _Step]:
        """Send the latest attempt once; settle it, looking the order up when the answer is in doubt."""
        ports, now = self.ports, self.ports.clock
        reference_id = str(order.reference_id)
        quantity = order.request.quantity
        try:
            data = ports.breaker.call(
                ports.roamify.create_order,
                package.reseller_id,
                quantity,
                reference_id,
                timeout=(self.policy.connect_timeout, self.create_read_timeout()),
            )
        except CircuitOpen as exc:
            order = order.settle_attempt(AttemptOutcome.NOT_SENT, now(), error="circuit_open")
            return self.unavailable(order, str(exc), retry_after=exc.retry_after_seconds), _Step.DONE
        except (RateLimited, UpstreamAuthError) as exc:
            # Refused before anything was created; 429 and a rotated key both pass with time.
            self.count_error(exc)
            order = order.settle_attempt(AttemptOutcome.REJECTED, now(), error=error_kind(exc))
            retry_after = (
                math.ceil(exc.retry_after) if isinstance(exc, RateLimited) and exc.retry_after else None
            )
            return self.unavailable(
                order, "Roamify refused the order for now", retry_after=retry_after
            ), _Step.DONE
        except (UpstreamRejected, UpstreamNotFound) as exc:
            self.count_error(exc)
            order = order.settle_attempt(AttemptOutcome.REJECTED, now(), error=error_kind(exc))
            failed = order.failed(FailureReason.REJECTED, f"Roamify rejected the order: {exc}", now())
            return self.save(failed), _Step.DONE
        except UpstreamError as exc:
            self.count_error(exc)
            if isinstance(exc, UpstreamUnreachable) or down_by_roamify(exc):
                # No connection was made, or Roamify's own 503 says it is down: nothing was created.
                outcome = (
                    AttemptOutcome.NOT_SENT
                    if isinstance(exc, UpstreamUnreachable)
                    else AttemptOutcome.REJECTED
                )
                order = order.settle_attempt(outcome, now(), error=error_kind(exc), answered=True)
                return self.unavailable(order, "Roamify is unavailable; nothing was ordered"), _Step.DONE
            # A 500, a timeout, a proxy's 5xx or a broken answer: the order may exist. Look first.
            return self.after_doubt(order, package, error_kind(exc), answered=answered_by_roamify(exc))
        roamify_id = str(data["id"])
        order = order.settle_attempt(AttemptOutcome.PLACED, now(), roamify_order_id=roamify_id)
        return self.save(self.settled(order, data)), _Step.DONE

    def settled(self, order: Order, upstream: dict[str, Any]) -> Order:
        """`order`, whose latest created attempt made `upstream`, PLACED or NEEDS_REVIEW."""
        attempt = order.placing_attempt
        assert attempt is not None  # noqa: S101 - called once an attempt created the order  # nosec B101
        return settle_found(order, attempt, upstream, self.ports.clock(), self.unit_bound())

    def after_doubt(
        self, order: Order, package: Package, error: str, *, answered: bool
    ) -> tuple[Order, _Step]:
        now = self.ports.clock
        failed_at = now()
        reference_id = str(order.reference_id)
        found = self.lookup(reference_id)
        if found is _NOT_FOUND and answered and self.is_gone(package) is True:
            # Roamify answered 500 and lists the package no more: the 500 was its "no such package".
            order = order.settle_attempt(AttemptOutcome.NOT_PLACED, now(), error=error, answered=answered)
            return order, _Step.GONE
        # The package exists (or Roamify could not say): an order may still show up. Keep looking,
        # spaced, until a commit would have shown, before anything else is sent.
        found = self.await_commit(reference_id, failed_at, found)
        if isinstance(found, dict):
            roamify_id = str(found["id"])
            order = order.settle_attempt(
                AttemptOutcome.FOUND, now(), error=error, roamify_order_id=roamify_id, answered=answered
            )
            return self.save(self.settled(order, found)), _Step.DONE
        if found is _INCONCLUSIVE or not answered:
            # A failed lookup proves nothing; nor does "not found" while the request may still be at
            # work upstream (a timeout, a proxy's 5xx, an unreadable reply). Reconciliation settles
            # it later, trusting "not found" only after the grace period.
            order = order.settle_attempt(AttemptOutcome.UNKNOWN, now(), error=error, answered=answered)
            return self.save(order.unknown(now())), _Step.DONE
        # Roamify finished the request, and no order showed in the time a commit needs to show.
        order = order.settle_attempt(AttemptOutcome.NOT_PLACED, now(), error=error, answered=answered)
        return order, _Step.RETRY

    def await_commit(
        self, reference_id: str, since: datetime, found: dict[str, Any] | _Sentinel
    ) -> dict[str, Any] | _Sentinel:
        """Repeat the lookup, spaced, until the order is found, or "not found" is answered once
        `policy.commit_visibility` seconds have passed since `since`, or time runs out
        (_INCONCLUSIVE). `found` is the first lookup's answer."""
        delay = self.policy.lookup_interval
        while not isinstance(found, dict):
            if found is _INCONCLUSIVE:
                return found
            left = self.policy.commit_visibility - (self.ports.clock() - since).total_seconds()
            if left <= 0:
                return found
            pause = min(delay, left)
            if not self.time_for(pause + self.policy.lookup_reserve):
                return _INCONCLUSIVE
            self.ports.sleep(pause)
            delay = min(delay * 2, LOOKUP_INTERVAL_CAP_SECONDS)
            found = self.lookup(reference_id)
        return found

    def recheck_earlier(self, order: Order) -> tuple[Order, bool]:
        """Look up every earlier attempt's referenceId before another attempt is started.

        Returns the order and whether it is settled for this request: PLACED (or NEEDS_REVIEW)
        when an earlier attempt's order turned up after all (a late commit), UNKNOWN when a lookup
        could not answer (no new attempt may go out then). Not settled: none of them created anything.
        """
        now = self.ports.clock
        for attempt in order.attempts:
            if not attempt.sent:
                continue
            found = self.lookup(attempt.reference_id)
            if isinstance(found, dict):
                return self.save(settle_found(order, attempt, found, now(), self.unit_bound())), True
            if found is _INCONCLUSIVE:
                get_logger().warning(
                    "an earlier attempt could not be looked up again; no further attempt is made",
                    extra={"order_id": order.order_id, "attempt": attempt.attempt},
                )
                return self.save(order.unknown(now())), True
        return order, False

    # --- upstream questions ---------------------------------------------------------------------

    def left(self) -> float:
        """Seconds this request may still spend on one Roamify call."""
        return self.ports.remaining() - self.policy.margin

    def ask(self, question: Callable[..., T], *args: Any) -> T | _Sentinel:
        """`question(*args, remaining=...)` through the breaker, asked again (spaced) while it fails
        and the request has time; _INCONCLUSIVE once it has none, or the breaker is open."""
        delay = self.policy.lookup_interval
        while self.time_for(self.policy.lookup_reserve):
            try:
                return self.ports.breaker.call(question, *args, remaining=self.left)
            except CircuitOpen:
                return _INCONCLUSIVE
            except UpstreamError as exc:
                self.count_error(exc)
            if not self.time_for(delay + self.policy.lookup_reserve):
                break
            self.ports.sleep(delay)
            delay = min(delay * 2, LOOKUP_INTERVAL_CAP_SECONDS)
        return _INCONCLUSIVE

    def lookup(self, reference_id: str) -> dict[str, Any] | _Sentinel:
        """The upstream order with this referenceId, _NOT_FOUND (Roamify's order list said none),
        or _INCONCLUSIVE (no answer in the time left)."""

        def find(*, remaining: Callable[[], float]) -> dict[str, Any] | None:
            return self.ports.roamify.find_order(reference_id=reference_id, remaining=remaining)

        found = self.ask(find)
        return _NOT_FOUND if found is None else found

    def is_gone(self, package: Package) -> bool | None:
        """True when Roamify's live listing (`?packageId=`) no longer holds the package; False when
        it does; None when Roamify could not be asked in the time left."""
        price = self.ask(self.ports.roamify.current_price, package.reseller_id)
        if price is _INCONCLUSIVE:
            return None
        return price is None

    def unit_bound(self) -> Decimal | None:
        """The most one unit may be charged: the original's synced price plus the tolerance."""
        original = self.target.package if self.target is not None else None
        if original is None:
            return None
        return price_bound(original.price, self.policy.max_price_increase)

    @staticmethod
    def count_error(exc: UpstreamError) -> None:
        add_count("OrderUpstreamErrors", kind=error_kind(exc))

    # --- fallback -------------------------------------------------------------------------------

    def _require_target(self) -> Target:
        if self.target is None:
            raise RuntimeError("this driver only reconciles")
        return self.target

    def destinations(self) -> tuple[str, ...]:
        """The customer's destination, or for a multi-country package bought as is, every country
        it covers: the replacement must be equivalent or better in each."""
        target = self._require_target()
        if target.package is None:
            return (target.destination,) if target.destination else ()
        return destinations_for(target.package, target.destination)

    def candidates(self) -> list[Package]:
        target = self._require_target()
        original = target.package
        if original is None:
            return []
        if self._candidates is None:
            destinations = self.destinations()
            query = target.destination or (destinations[0] if destinations else original.country_code)
            found = {p.reseller_id: p for p in candidate_packages(original, query, self.ports.packages)}
            # A configured fallback the Queries already returned is not read again.
            for package in self.policy.region_fallbacks.fallback_candidates(
                original.region, lambda rid: found.get(rid) or self.ports.packages.get(rid)
            ):
                found.setdefault(package.reseller_id, package)
            self._candidates = list(found.values())
        return self._candidates

    def fallback(self) -> Package | None:
        return choose_fallback(
            self._require_target().package,
            self.candidates(),
            self.destinations(),
            max_price_increase=self.policy.max_price_increase,
            exclude=self.gone,
        )

    def no_equivalent(self, order: Order) -> Order:
        target = self._require_target()
        original, destinations = target.package, self.destinations()
        views: list[dict[str, Any]] = []
        if original is not None and destinations:
            # Held to every destination, as the fallback was: nothing covering only some of a
            # multi-country package's countries is offered, let alone as equivalent or better.
            ranked = rank_alternatives_for(
                original,
                [c for c in self.candidates() if c.reseller_id not in self.gone],
                destinations,
                max_price_increase=self.policy.max_price_increase,
                limit=self.policy.alternatives_limit,
            )
            views = [alternative_view(a) for a in ranked]
        message = (
            f"package {target.reseller_id!r} can no longer be ordered and no equivalent-or-better "
            "package exists; nothing was ordered"
        )
        failed = order.failed(FailureReason.NO_EQUIVALENT, message, self.ports.clock(), alternatives=views)
        return self.save(failed)

    # --- bookkeeping ----------------------------------------------------------------------------

    def unavailable(self, order: Order, message: str, *, retry_after: int | None = None) -> Order:
        failed = order.failed(
            FailureReason.UNAVAILABLE,
            message,
            self.ports.clock(),
            retryable=True,
            retry_after_seconds=retry_after or max(1, math.ceil(self.ports.breaker.retry_after())),
        )
        return self.save(failed)

    def save(self, order: Order) -> Order:
        return self.ports.orders.save(order, order.version)

    def time_for(self, seconds: float) -> bool:
        return self.ports.remaining() - self.policy.margin >= seconds

    def create_read_timeout(self) -> float:
        left = (
            self.ports.remaining()
            - self.policy.margin
            - self.policy.lookup_reserve
            - self.policy.connect_timeout
        )
        return max(0.1, min(self.policy.create_timeout, left))

    def time_for_create(self) -> bool:
        # Room for the create call and, after it, the lookup a failure would need.
        minimum = min(MIN_CREATE_READ_SECONDS, self.policy.create_timeout)
        return self.time_for(self.policy.connect_timeout + minimum + self.policy.lookup_reserve)
