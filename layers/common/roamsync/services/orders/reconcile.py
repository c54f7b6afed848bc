"""Settling an order whose outcome is not known yet, by looking up every attempt upstream."""

from __future__ import annotations

from roamsync.domain.errors import Conflict
from roamsync.domain.orders import AttemptOutcome, FailureReason, Order, OrderStatus
from roamsync.observability import add_count, get_logger
from roamsync.services.orders.driver import INCONCLUSIVE, OrderDriver
from roamsync.services.orders.policy import OrderPolicy, OrderPorts, settle_found, unit_bound_of


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
        driver = OrderDriver(ports, policy, None)
        inconclusive = False
        for attempt in order.attempts:
            if not attempt.sent:
                continue
            lookup = driver.lookup(attempt.reference_id)
            if isinstance(lookup, dict):
                settled = settle_found(order, attempt, lookup, now, unit_bound_of(order, ports, policy))
                order = ports.orders.save(settled, order.version)
                log_outcome(order, "order reconciled as placed")
                add_count("OrdersReconciled", outcome=order.status.value.lower())
                return order
            inconclusive = inconclusive or lookup is INCONCLUSIVE
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
        log_outcome(order, "order reconciled as not placed")
        add_count("OrdersReconciled", outcome="not_placed")
        return order
    except Conflict:
        # Someone else moved it on meanwhile: theirs is the newer truth.
        fresh = ports.orders.get(order.order_id)
        return fresh if fresh is not None else order


def log_outcome(order: Order, message: str) -> None:
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
