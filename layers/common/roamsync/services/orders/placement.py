"""Placing an order at most once per Idempotency-Key, and reading it back."""

from __future__ import annotations

import math
from dataclasses import dataclass

from roamsync.domain.errors import BadRequest, Conflict, NotFound
from roamsync.domain.orders import IdempotencyKeyReused, Order, OrderRequest, OrderStatus, order_id_for
from roamsync.observability import add_count
from roamsync.services.catalog import resolve_target
from roamsync.services.orders.breaker import CircuitOpen
from roamsync.services.orders.driver import OrderDriver
from roamsync.services.orders.policy import OrderPolicy, OrderPorts
from roamsync.services.orders.reconcile import log_outcome, reconcile


@dataclass(frozen=True)
class Placement:
    """What one POST came to. `replayed`: an earlier request's order, nothing placed by this one."""

    order: Order
    replayed: bool
    retry_after_seconds: int | None = None


def place_order(
    idempotency_key: str, request: OrderRequest, ports: OrderPorts, policy: OrderPolicy
) -> Placement:
    """Place `request` at most once under `idempotency_key` (see the package docstring).

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
    order = OrderDriver(ports, policy, target).drive(order)
    return _published(Placement(order, replayed=False, retry_after_seconds=_retry_after(order)))


def get_order(order_id: str, ports: OrderPorts, policy: OrderPolicy) -> Order:
    """The order with its attempts, an UNKNOWN (or abandoned) one reconciled first. Raises NotFound."""
    order = ports.orders.get(order_id)
    if order is None:
        raise NotFound(f"no order {order_id!r}")
    return reconcile(order, ports, policy)


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
    order = OrderDriver(ports, policy, target).drive(order)
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
    log_outcome(order, "order request finished")
    return placement
