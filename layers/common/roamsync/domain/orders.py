"""An order request and its life: the Order record, its attempts, and which fallback may be ordered.

States::

    PENDING ──▶ PLACED                      an upstream order exists, as asked (terminal)
        │ ├───▶ NEEDS_REVIEW                an upstream order exists but Roamify's answer does not
        │ │                                 match the request (package, items, quantity, status)
        │ │                                 or charges more than the bound: an operator settles it
        │ ├───▶ FAILED                      nothing was ordered upstream; `failure` says why
        │ └───▶ UNKNOWN ──▶ PLACED | NEEDS_REVIEW | FAILED
        │                                   an attempt's fate is in doubt; reconciled by lookup
        ▲
        └─── FAILED(retryable) ─ the same Idempotency-Key again re-drives it (nothing was ordered)

An order may hold several attempts, each with its own deterministic ``referenceId``
(``f"{order_id}-a{n}"``). A new attempt only ever starts once every earlier one is known not to
have created an upstream order, so one request can never buy two eSIMs. Should an earlier attempt
turn out to have created one after all (a late commit found by a later lookup), the order is
PLACED by that attempt.

Pure: no I/O. The order id is uuid5 of a fixed namespace and the Idempotency-Key, so the same key
always finds the same record with one GetItem.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from roamsync.domain.equivalence import Alternative, best_replacement_for
from roamsync.domain.errors import Conflict, RoamsyncError
from roamsync.domain.packages import Package

# Fixed: the same Idempotency-Key gives the same order id on every machine, forever.
ORDER_NAMESPACE = uuid.UUID("0b7c5d3e-8f4a-4e61-b2d9-7a13c6e5f208")

# A PENDING record untouched for this long has no live worker (the Lambda times out at 29 s).
PENDING_LEASE_SECONDS = 60.0


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    PLACED = "PLACED"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"
    NEEDS_REVIEW = "NEEDS_REVIEW"


class AttemptOutcome(StrEnum):
    """What one upstream order creation came to."""

    PENDING = "pending"  # about to be sent, or sent and not answered yet
    PLACED = "placed"  # Roamify answered with the order
    FOUND = "found_after_error"  # Roamify failed, but the lookup by referenceId found the order
    NOT_PLACED = "not_placed"  # Roamify failed and the lookup confirmed there is no such order
    REJECTED = "rejected"  # Roamify refused the request (4xx, 429): nothing was created
    NOT_SENT = "not_sent"  # the breaker or the deadline stopped it before it left
    UNKNOWN = "unknown"  # Roamify failed and the lookup could not tell

    @property
    def created(self) -> bool:
        return self in (AttemptOutcome.PLACED, AttemptOutcome.FOUND)

    @property
    def settled_without_order(self) -> bool:
        """True when this attempt certainly created no upstream order."""
        return self in (AttemptOutcome.NOT_PLACED, AttemptOutcome.REJECTED, AttemptOutcome.NOT_SENT)


class FailureReason(StrEnum):
    NO_EQUIVALENT = "no_equivalent_package"  # the package is gone and nothing equivalent-or-better exists
    REJECTED = "upstream_rejected"  # Roamify refused the order as malformed: retrying will not help
    UNAVAILABLE = "upstream_unavailable"  # Roamify failed and nothing was ordered: retry later


class InvalidTransition(RoamsyncError):
    """A state change the order's state machine does not allow (a bug, never the caller's fault)."""


class IdempotencyKeyReused(Conflict):
    """The Idempotency-Key was already used for a different request body."""


class OrderRequest(BaseModel):
    """The normalised request an order was made for: what the request hash covers."""

    model_config = ConfigDict(frozen=True)

    my_package_id: str | None = None
    package_id: str | None = None
    quantity: int

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of the request: equal bodies, equal fingerprints."""
        canonical = json.dumps(
            {"myPackageId": self.my_package_id, "packageId": self.package_id, "quantity": self.quantity},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


class Attempt(BaseModel):
    model_config = ConfigDict(frozen=True)

    attempt: int
    package_id: str
    reference_id: str
    outcome: AttemptOutcome = AttemptOutcome.PENDING
    error: str | None = None  # short kind: "timeout", "http_500", "rate_limited", "circuit_open", ...
    # True when the failure was Roamify's own answer (a 500 with its JSON error body): the request
    # was finished, so a lookup finding nothing proves nothing was created. False after a timeout, a
    # proxy's 5xx or an unreadable reply: the request may still be at work upstream.
    answered: bool = False
    roamify_order_id: str | None = None
    at: datetime

    @property
    def sent(self) -> bool:
        """True when the request may have reached Roamify (anything but NOT_SENT)."""
        return self.outcome is not AttemptOutcome.NOT_SENT

    def view(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "packageId": self.package_id,
            "referenceId": self.reference_id,
            "outcome": self.outcome.value,
            "error": self.error,
            "roamifyOrderId": self.roamify_order_id,
            "at": self.at.isoformat(),
        }


class Failure(BaseModel):
    model_config = ConfigDict(frozen=True)

    reason: FailureReason
    message: str
    retryable: bool = False
    retry_after_seconds: int | None = None


_ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset(
        {OrderStatus.PLACED, OrderStatus.FAILED, OrderStatus.UNKNOWN, OrderStatus.NEEDS_REVIEW}
    ),
    OrderStatus.UNKNOWN: frozenset({OrderStatus.PLACED, OrderStatus.FAILED, OrderStatus.NEEDS_REVIEW}),
    OrderStatus.FAILED: frozenset({OrderStatus.PENDING}),  # only when retryable; checked below
    OrderStatus.PLACED: frozenset(),
    OrderStatus.NEEDS_REVIEW: frozenset(),  # an upstream order exists: settled by an operator
}


def order_id_for(idempotency_key: str) -> str:
    """The order id an Idempotency-Key maps to: uuid5 of the order namespace and the key."""
    return str(uuid.uuid5(ORDER_NAMESPACE, idempotency_key))


def reference_id_for(order_id: str, attempt: int) -> str:
    """The referenceId sent to Roamify with attempt `attempt` (1-based) of an order."""
    return f"{order_id}-a{attempt}"


class Order(BaseModel):
    """One order request. Immutable: every change returns a new Order (saved with optimistic locking)."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    request: OrderRequest
    request_hash: str
    status: OrderStatus = OrderStatus.PENDING
    original_package_id: str
    package_id: str  # the package of the latest attempt (the one ordered, once PLACED)
    destination: str | None = None
    roamify_order_id: str | None = None
    attempts: tuple[Attempt, ...] = ()
    failure: Failure | None = None
    alternatives: tuple[dict[str, Any], ...] = ()
    # NEEDS_REVIEW: how Roamify's answer differs from the request (or overcharges), one line each.
    review: tuple[str, ...] = ()
    created_at: datetime
    updated_at: datetime
    version: int = 0  # the stored version; 0 until first written

    @classmethod
    def new(
        cls,
        idempotency_key: str,
        request: OrderRequest,
        *,
        reseller_id: str,
        destination: str | None,
        now: datetime,
    ) -> Order:
        """A PENDING order for `request` under `idempotency_key`, not yet attempted."""
        return cls(
            order_id=order_id_for(idempotency_key),
            request=request,
            request_hash=request.fingerprint(),
            original_package_id=reseller_id,
            package_id=reseller_id,
            destination=destination,
            created_at=now,
            updated_at=now,
        )

    # --- reading ----------------------------------------------------------------------------------

    @property
    def fallback_used(self) -> bool:
        return self.package_id != self.original_package_id

    @property
    def last_attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def placing_attempt(self) -> Attempt | None:
        """The attempt that created the upstream order (normally the last one), else None."""
        return next((a for a in reversed(self.attempts) if a.outcome.created), None)

    @property
    def reference_id(self) -> str | None:
        """The referenceId of the attempt that placed the order, else of the latest attempt."""
        attempt = self.placing_attempt or self.last_attempt
        return attempt.reference_id if attempt else None

    @property
    def open_attempt(self) -> Attempt | None:
        """The attempt whose outcome is still in doubt (at most one ever is), else None."""
        last = self.last_attempt
        if last is not None and last.outcome in (AttemptOutcome.PENDING, AttemptOutcome.UNKNOWN):
            return last
        return None

    @property
    def retryable(self) -> bool:
        return self.status is OrderStatus.FAILED and self.failure is not None and self.failure.retryable

    def summary(self) -> dict[str, Any]:
        """What POST /api/orders answers."""
        return {
            "orderId": self.order_id,
            "status": self.status.value,
            "packageId": self.package_id,
            "originalPackageId": self.original_package_id,
            "fallbackUsed": self.fallback_used,
            "roamifyOrderId": self.roamify_order_id,
            "referenceId": self.reference_id,
        }

    def detail(self) -> dict[str, Any]:
        """What GET /api/orders/{orderId} answers: the summary, the attempts and why it failed."""
        failure = None
        if self.failure is not None:
            failure = {
                "reason": self.failure.reason.value,
                "message": self.failure.message,
                "retryable": self.failure.retryable,
            }
        return {
            **self.summary(),
            "quantity": self.request.quantity,
            "myPackageId": self.request.my_package_id,
            "destination": self.destination,
            "attempts": [a.view() for a in self.attempts],
            "failure": failure,
            "alternatives": list(self.alternatives),
            "review": list(self.review),
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
        }

    # --- changing ---------------------------------------------------------------------------------

    def _to(self, status: OrderStatus, now: datetime, **changes: Any) -> Order:
        if status is not self.status:
            if status not in _ALLOWED[self.status]:
                raise InvalidTransition(f"order {self.order_id}: {self.status} -> {status} is not allowed")
            if self.status is OrderStatus.FAILED and not self.retryable:
                raise InvalidTransition(f"order {self.order_id} failed for good and cannot be re-driven")
        return self.model_copy(update={"status": status, "updated_at": now, **changes})

    def start_attempt(self, package_id: str, now: datetime) -> Order:
        """A new attempt at `package_id` under a new referenceId. Only while PENDING and once every
        earlier attempt is known to have created nothing; raises InvalidTransition otherwise."""
        if self.status is not OrderStatus.PENDING:
            raise InvalidTransition(f"order {self.order_id} is {self.status}, not PENDING")
        if any(not a.outcome.settled_without_order for a in self.attempts):
            raise InvalidTransition(f"order {self.order_id} has an attempt that may have created an order")
        number = len(self.attempts) + 1
        attempt = Attempt(
            attempt=number,
            package_id=package_id,
            reference_id=reference_id_for(self.order_id, number),
            at=now,
        )
        return self.model_copy(
            update={"attempts": (*self.attempts, attempt), "package_id": package_id, "updated_at": now}
        )

    def settle_attempt(
        self,
        outcome: AttemptOutcome,
        now: datetime,
        *,
        error: str | None = None,
        roamify_order_id: str | None = None,
        answered: bool | None = None,
        attempt: int | None = None,
    ) -> Order:
        """Record what an attempt came to: the latest one, or number `attempt` (keeping its earlier
        error and `answered` when none is given)."""
        index = len(self.attempts) - 1 if attempt is None else attempt - 1
        if not 0 <= index < len(self.attempts):
            raise InvalidTransition(f"order {self.order_id} has no attempt {attempt or 'to settle'}")
        current = self.attempts[index]
        settled = current.model_copy(
            update={
                "outcome": outcome,
                "error": error if error is not None else current.error,
                "roamify_order_id": roamify_order_id or current.roamify_order_id,
                "answered": current.answered if answered is None else answered,
            }
        )
        attempts = (*self.attempts[:index], settled, *self.attempts[index + 1 :])
        return self.model_copy(update={"attempts": attempts, "updated_at": now})

    def settled_by(self, roamify_order_id: str, now: datetime, review: Sequence[str] = ()) -> Order:
        """PLACED when `review` is empty, else NEEDS_REVIEW with those reasons: the upstream order
        exists either way (see `placed`)."""
        if not review:
            return self.placed(roamify_order_id, now)
        attempt = self.placing_attempt
        if attempt is None:
            raise InvalidTransition(f"order {self.order_id}: no attempt created an upstream order")
        return self._to(
            OrderStatus.NEEDS_REVIEW,
            now,
            roamify_order_id=roamify_order_id,
            package_id=attempt.package_id,
            failure=None,
            review=tuple(review),
        )

    def placed(self, roamify_order_id: str, now: datetime) -> Order:
        """PLACED by the attempt that created the upstream order, with that attempt's package
        (→ PLACED from PENDING or UNKNOWN). Normally the latest attempt; an earlier one only when
        its order turned up late."""
        attempt = self.placing_attempt
        if attempt is None:
            raise InvalidTransition(f"order {self.order_id}: no attempt created an upstream order")
        return self._to(
            OrderStatus.PLACED,
            now,
            roamify_order_id=roamify_order_id,
            package_id=attempt.package_id,
            failure=None,
        )

    def unknown(self, now: datetime) -> Order:
        return self._to(OrderStatus.UNKNOWN, now)

    def failed(
        self,
        reason: FailureReason,
        message: str,
        now: datetime,
        *,
        retryable: bool = False,
        retry_after_seconds: int | None = None,
        alternatives: Iterable[dict[str, Any]] = (),
    ) -> Order:
        """FAILED: allowed only when no attempt may have created an upstream order."""
        if any(not a.outcome.settled_without_order for a in self.attempts):
            raise InvalidTransition(f"order {self.order_id} may have been placed; it cannot fail")
        failure = Failure(
            reason=reason, message=message, retryable=retryable, retry_after_seconds=retry_after_seconds
        )
        return self._to(OrderStatus.FAILED, now, failure=failure, alternatives=tuple(alternatives))

    def redriven(self, now: datetime) -> Order:
        """A retryable FAILED order back to PENDING for another go (same key, same body)."""
        if not self.retryable:
            raise InvalidTransition(f"order {self.order_id} is {self.status} and cannot be re-driven")
        return self._to(OrderStatus.PENDING, now, failure=None, alternatives=())

    def is_stale_pending(self, now: datetime) -> bool:
        """PENDING and untouched for longer than any worker can live: its worker died."""
        return (
            self.status is OrderStatus.PENDING
            and (now - self.updated_at).total_seconds() > PENDING_LEASE_SECONDS
        )


# --- what Roamify answered -----------------------------------------------------------------------

# Order statuses that mean the order stands (the sample answers COMPLETED; PENDING exists too).
STANDING_STATUSES = frozenset({"COMPLETED", "PENDING"})
# Roamify's totals are in cents; a rounding difference below a cent is not an overcharge.
TOTAL_ROUNDING = Decimal("0.005")


def price_bound(original_price: Decimal, max_price_increase: Decimal | float) -> Decimal:
    """The most one unit may cost: the original's price plus the automatic fallback tolerance."""
    return original_price * (1 + Decimal(str(max_price_increase)))


def review_reasons(
    upstream: dict[str, Any],
    *,
    package_id: str,
    quantity: int,
    reference_id: str,
    unit_bound: Decimal | None,
) -> tuple[str, ...]:
    """How Roamify's order `upstream` differs from what was asked: empty when it is exactly that.

    Checked: the order's `status` (COMPLETED or PENDING), its `referenceId` when it has one, its
    `items` (one per unit ordered, each for `package_id`) and its charged `total` against
    `quantity` times `unit_bound` (skipped when no bound is known). Anything unreadable is a reason too.
    """
    reasons: list[str] = []
    status = upstream.get("status")
    if not isinstance(status, str) or status.upper() not in STANDING_STATUSES:
        reasons.append(f"Roamify reports the order as {status!r}, not COMPLETED or PENDING")
    answered_reference = upstream.get("referenceId")
    if answered_reference is not None and answered_reference != reference_id:
        reasons.append(f"the order carries referenceId {answered_reference!r}, not {reference_id!r}")
    items = upstream.get("items")
    if not isinstance(items, list):
        reasons.append("the order lists no items")
        items = []
    if len(items) != quantity:
        reasons.append(f"the order holds {len(items)} eSIM(s) where {quantity} were ordered")
    others = sorted({str(i.get("packageId")) if isinstance(i, dict) else "?" for i in items} - {package_id})
    if others:
        reasons.append(f"the order is for {', '.join(others)}, not {package_id}")
    if unit_bound is not None:
        total = _decimal(upstream.get("total"))
        if total is None:
            reasons.append("the order's charged total cannot be read")
        elif total > unit_bound * quantity + TOTAL_ROUNDING:
            reasons.append(
                f"charged {total} where at most {(unit_bound * quantity).quantize(Decimal('0.01'))} "
                "was allowed"
            )
    return tuple(reasons)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


# --- fallback -------------------------------------------------------------------------------------


def choose_fallback(
    original: Package | None,
    candidates: Iterable[Package],
    destinations: Sequence[str],
    *,
    max_price_increase: Decimal | float,
    exclude: Iterable[str] = (),
) -> Package | None:
    """The package to order instead of `original`, or None: never a downgrade.

    A candidate qualifies when it is equivalent or better (domain.equivalence) for *every* one of
    `destinations` — one country when the customer's destination is known, else every country the
    original covers (:func:`~roamsync.domain.equivalence.destinations_for`) — and is not in
    `exclude` (packages known to be gone). Among qualifying ones, the cheapest (the ranking of
    :func:`~roamsync.domain.equivalence.best_replacement_for`). No original or no destination: None.
    """
    if original is None or not destinations:
        return None
    excluded = set(exclude)
    remaining = [candidate for candidate in candidates if candidate.reseller_id not in excluded]
    return best_replacement_for(original, remaining, destinations, max_price_increase=max_price_increase)


def alternative_view(alternative: Alternative) -> dict[str, Any]:
    """One ranked alternative as the API shows it (camelCase, prices as numbers)."""
    package = alternative.package
    return {
        "packageId": package.reseller_id,
        "name": package.name,
        "countryCode": package.country_code,
        "coverage": list(package.coverage),
        "dataMb": package.data_mb,
        "unlimited": package.unlimited,
        "validityDays": package.validity_days,
        "withSms": package.with_sms,
        "withCall": package.with_call,
        "withHotspot": package.with_hotspot,
        "price": float(package.price),
        "currency": package.currency,
        "priceDifference": float(alternative.price_difference),
        "equivalentOrBetter": alternative.equivalent_or_better,
        "downgrade": alternative.downgrade,
        "reasons": list(alternative.reasons),
    }
