"""The worker that takes one order from PENDING through its attempts to where this request can take it."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from roamsync.domain.equivalence import destinations_for, rank_alternatives_for
from roamsync.domain.errors import (
    RateLimited,
    UpstreamAuthError,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamUnreachable,
)
from roamsync.domain.orders import (
    AttemptOutcome,
    FailureReason,
    Order,
    alternative_view,
    choose_fallback,
    price_bound,
)
from roamsync.domain.packages import Package
from roamsync.observability import add_count, get_logger
from roamsync.services.catalog import Target, candidate_packages
from roamsync.services.orders.breaker import CircuitOpen
from roamsync.services.orders.policy import (
    LOOKUP_INTERVAL_CAP_SECONDS,
    MIN_CREATE_READ_SECONDS,
    OrderPolicy,
    OrderPorts,
    answered_by_roamify,
    down_by_roamify,
    error_kind,
    settle_found,
)

T = TypeVar("T")


class Step(StrEnum):
    DONE = "done"  # the order is saved in its final state for this request
    GONE = "gone"  # nothing was created and the package is gone: try a fallback
    RETRY = "retry"  # nothing was created and the package exists: try it again


class Sentinel(StrEnum):
    NOT_FOUND = "not_found"
    INCONCLUSIVE = "inconclusive"


NOT_FOUND = Sentinel.NOT_FOUND
INCONCLUSIVE = Sentinel.INCONCLUSIVE


class OrderDriver:
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
                if confirmed is INCONCLUSIVE:
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
            if step is Step.DONE:
                return order
            if step is Step.GONE:
                self.gone.add(package.reseller_id)
                package = self.fallback()
        return self.unavailable(
            order, f"Roamify failed {self.policy.max_attempts} times; nothing was ordered"
        )

    def confirm_stand_in(self, package: Package) -> bool | Sentinel:
        """Ask Roamify for the stand-in's price now: True when it is still listed within the bound.
        Otherwise it is excluded (gone, or dearer than the bound since the last sync) and False;
        INCONCLUSIVE when Roamify could not say in the time left (nothing may be ordered then)."""
        price = self.ask(self.ports.roamify.current_price, package.reseller_id)
        if isinstance(price, Sentinel):
            return INCONCLUSIVE
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

    def attempt(self, order: Order, package: Package) -> tuple[Order, Step]:
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
            return self.unavailable(order, str(exc), retry_after=exc.retry_after_seconds), Step.DONE
        except (RateLimited, UpstreamAuthError) as exc:
            # Refused before anything was created; 429 and a rotated key both pass with time.
            self.count_error(exc)
            order = order.settle_attempt(AttemptOutcome.REJECTED, now(), error=error_kind(exc))
            retry_after = (
                math.ceil(exc.retry_after) if isinstance(exc, RateLimited) and exc.retry_after else None
            )
            return self.unavailable(
                order, "Roamify refused the order for now", retry_after=retry_after
            ), Step.DONE
        except (UpstreamRejected, UpstreamNotFound) as exc:
            self.count_error(exc)
            order = order.settle_attempt(AttemptOutcome.REJECTED, now(), error=error_kind(exc))
            failed = order.failed(FailureReason.REJECTED, f"Roamify rejected the order: {exc}", now())
            return self.save(failed), Step.DONE
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
                return self.unavailable(order, "Roamify is unavailable; nothing was ordered"), Step.DONE
            # A 500, a timeout, a proxy's 5xx or a broken answer: the order may exist. Look first.
            return self.after_doubt(order, package, error_kind(exc), answered=answered_by_roamify(exc))
        roamify_id = str(data["id"])
        order = order.settle_attempt(AttemptOutcome.PLACED, now(), roamify_order_id=roamify_id)
        return self.save(self.settled(order, data)), Step.DONE

    def settled(self, order: Order, upstream: dict[str, Any]) -> Order:
        """`order`, whose latest created attempt made `upstream`, PLACED or NEEDS_REVIEW."""
        attempt = order.placing_attempt
        assert attempt is not None  # noqa: S101 - called once an attempt created the order  # nosec B101
        return settle_found(order, attempt, upstream, self.ports.clock(), self.unit_bound())

    def after_doubt(
        self, order: Order, package: Package, error: str, *, answered: bool
    ) -> tuple[Order, Step]:
        now = self.ports.clock
        failed_at = now()
        reference_id = str(order.reference_id)
        found = self.lookup(reference_id)
        if found is NOT_FOUND and answered and self.is_gone(package) is True:
            # Roamify answered 500 and lists the package no more: the 500 was its "no such package".
            order = order.settle_attempt(AttemptOutcome.NOT_PLACED, now(), error=error, answered=answered)
            return order, Step.GONE
        # The package exists (or Roamify could not say): an order may still show up. Keep looking,
        # spaced, until a commit would have shown, before anything else is sent.
        found = self.await_commit(reference_id, failed_at, found)
        if isinstance(found, dict):
            roamify_id = str(found["id"])
            order = order.settle_attempt(
                AttemptOutcome.FOUND, now(), error=error, roamify_order_id=roamify_id, answered=answered
            )
            return self.save(self.settled(order, found)), Step.DONE
        if found is INCONCLUSIVE or not answered:
            # A failed lookup proves nothing; nor does "not found" while the request may still be at
            # work upstream (a timeout, a proxy's 5xx, an unreadable reply). Reconciliation settles
            # it later, trusting "not found" only after the grace period.
            order = order.settle_attempt(AttemptOutcome.UNKNOWN, now(), error=error, answered=answered)
            return self.save(order.unknown(now())), Step.DONE
        # Roamify finished the request, and no order showed in the time a commit needs to show.
        order = order.settle_attempt(AttemptOutcome.NOT_PLACED, now(), error=error, answered=answered)
        return order, Step.RETRY

    def await_commit(
        self, reference_id: str, since: datetime, found: dict[str, Any] | Sentinel
    ) -> dict[str, Any] | Sentinel:
        """Repeat the lookup, spaced, until the order is found, or "not found" is answered once
        `policy.commit_visibility` seconds have passed since `since`, or time runs out
        (INCONCLUSIVE). `found` is the first lookup's answer."""
        delay = self.policy.lookup_interval
        while not isinstance(found, dict):
            if found is INCONCLUSIVE:
                return found
            left = self.policy.commit_visibility - (self.ports.clock() - since).total_seconds()
            if left <= 0:
                return found
            pause = min(delay, left)
            if not self.time_for(pause + self.policy.lookup_reserve):
                return INCONCLUSIVE
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
            if found is INCONCLUSIVE:
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

    def ask(self, question: Callable[..., T], *args: Any) -> T | Sentinel:
        """`question(*args, remaining=...)` through the breaker, asked again (spaced) while it fails
        and the request has time; INCONCLUSIVE once it has none, or the breaker is open."""
        delay = self.policy.lookup_interval
        while self.time_for(self.policy.lookup_reserve):
            try:
                return self.ports.breaker.call(question, *args, remaining=self.left)
            except CircuitOpen:
                return INCONCLUSIVE
            except UpstreamError as exc:
                self.count_error(exc)
            if not self.time_for(delay + self.policy.lookup_reserve):
                break
            self.ports.sleep(delay)
            delay = min(delay * 2, LOOKUP_INTERVAL_CAP_SECONDS)
        return INCONCLUSIVE

    def lookup(self, reference_id: str) -> dict[str, Any] | Sentinel:
        """The upstream order with this referenceId, NOT_FOUND (Roamify's order list said none),
        or INCONCLUSIVE (no answer in the time left)."""

        def find(*, remaining: Callable[[], float]) -> dict[str, Any] | None:
            return self.ports.roamify.find_order(reference_id=reference_id, remaining=remaining)

        found = self.ask(find)
        return NOT_FOUND if found is None else found

    def is_gone(self, package: Package) -> bool | None:
        """True when Roamify's live listing (`?packageId=`) no longer holds the package; False when
        it does; None when Roamify could not be asked in the time left."""
        price = self.ask(self.ports.roamify.current_price, package.reseller_id)
        if price is INCONCLUSIVE:
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
