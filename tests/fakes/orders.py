"""Fakes for order placement: an Orders store with DynamoDB's conditional semantics, a catalog, a
scripted Roamify whose order log is the witness, and a clock that sleeping moves forward."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from roamsync.domain.errors import Conflict, UpstreamUnavailable
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.orders import Order
from roamsync.domain.packages import Package
from roamsync.services.orders import CircuitBreaker, OrderPolicy, OrderPorts
from tests.fakes.packages import FakeMyPackages, FakePackages


class FakeTime:
    """One fake clock for everything: `now()` (datetime), `monotonic()`, `sleep()` moves both."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._now.timestamp()

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)


class Deadline:
    """`remaining()` for a request that started at `time`'s now with `budget` seconds."""

    def __init__(self, time: FakeTime, budget: float = 25.0) -> None:
        self.time = time
        self.ends = time.monotonic() + budget

    def __call__(self) -> float:
        return self.ends - self.time.monotonic()


class FakeOrderStore:
    """Orders with DynamoDB's conditional create and versioned save, atomically (one lock)."""

    def __init__(self) -> None:
        self.items: dict[str, Order] = {}
        self.writes = 0
        self._lock = threading.Lock()
        self.before_get: Callable[[str], None] | None = None  # lets a test move time or state on a read

    def create(self, order: Order) -> Order:
        with self._lock:
            if order.order_id in self.items:
                raise Conflict("exists")
            stored = order.model_copy(update={"version": 1})
            self.items[order.order_id] = stored
            self.writes += 1
            return stored

    def save(self, order: Order, expected_version: int) -> Order:
        with self._lock:
            current = self.items.get(order.order_id)
            if current is None or current.version != expected_version:
                raise Conflict("version moved")
            stored = order.model_copy(update={"version": expected_version + 1})
            self.items[order.order_id] = stored
            self.writes += 1
            return stored

    def get(self, order_id: str) -> Order | None:
        if self.before_get is not None:
            self.before_get(order_id)
        with self._lock:
            return self.items.get(order_id)


class FakeCatalog(FakePackages):
    """Packages by reseller_id with the two index queries; `status` decides nothing here."""

    def add(self, *packages: Package) -> None:
        self.put(*packages)

    def deactivate(self, reseller_id: str) -> None:
        self.packages[reseller_id] = self.packages[reseller_id].model_copy(update={"status": "inactive"})


# What a scripted create does: "ok", or an exception to raise *after* ("commit") or instead of
# creating the order. `missed_by_lookups`: a late commit — the order exists (it is in the log), but
# that many lookups of its referenceId still miss it, as while the origin is still at work.
@dataclass
class CreateScript:
    commit: bool
    error: Exception | None = None
    missed_by_lookups: int = 0


OK = CreateScript(commit=True)


def fails(error: Exception, *, after_commit: bool, missed_by_lookups: int = 0) -> CreateScript:
    return CreateScript(commit=after_commit, error=error, missed_by_lookups=missed_by_lookups)


@dataclass
class FakeRoamify:
    """Roamify's order endpoints. `orders` is the witness: every order it created, in order.

    Creating an order for a package not in `listed` fails with 500 "Unknown error", as Roamify does.
    `creates` scripts the next create calls (then plain success); `lookup_errors` the next lookups.
    """

    listed: set[str]
    orders: list[dict[str, Any]] = field(default_factory=list)
    creates: list[CreateScript] = field(default_factory=list)
    lookup_errors: list[Exception] = field(default_factory=list)
    package_lookup_errors: list[Exception] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    timeouts: list[tuple[float, float] | None] = field(default_factory=list)
    # referenceId -> how many more lookups miss its (late-committing) order
    unseen: dict[str, int] = field(default_factory=dict)
    # packageId -> the price Roamify lists it at now (absent: 0, always within any bound)
    prices: dict[str, Decimal] = field(default_factory=dict)

    def create_order(
        self, package_id: str, quantity: int, reference_id: str, *, timeout: tuple[float, float] | None = None
    ) -> dict[str, Any]:
        self.calls.append(("create", package_id))
        self.timeouts.append(timeout)
        if package_id not in self.listed:
            # Roamify's own answer for an unknown or stale id: a 500 with its JSON error body.
            raise UpstreamUnavailable("Unknown error", status=500, answered=True)
        script = self.creates.pop(0) if self.creates else OK
        order = {
            "id": f"ord_{len(self.orders) + 1}",
            "referenceId": reference_id,
            "status": "COMPLETED",
            "total": float(self.prices.get(package_id, Decimal(0)) * quantity),
            "items": [{"packageId": package_id} for _ in range(quantity)],
        }
        if script.commit:
            self.orders.append(order)
            if script.missed_by_lookups:
                self.unseen[reference_id] = script.missed_by_lookups
        if script.error is not None:
            raise script.error
        return order

    def find_order(
        self,
        *,
        reference_id: str | None = None,
        order_id: str | None = None,
        remaining: Callable[[], float] | None = None,
    ) -> dict[str, Any] | None:
        self.calls.append(("find", reference_id))
        if self.lookup_errors:
            raise self.lookup_errors.pop(0)
        if reference_id is not None and self.unseen.get(reference_id, 0) > 0:
            self.unseen[reference_id] -= 1
            return None
        return next((o for o in self.orders if o["referenceId"] == reference_id), None)

    def current_price(
        self, package_id: str, *, remaining: Callable[[], float] | None = None
    ) -> Decimal | None:
        self.calls.append(("package", package_id))
        if self.package_lookup_errors:
            raise self.package_lookup_errors.pop(0)
        if package_id not in self.listed:
            return None
        return self.prices.get(package_id, Decimal(0))

    def created_for(self) -> list[str]:
        return [o["items"][0]["packageId"] for o in self.orders]

    def creates_sent(self) -> int:
        return sum(1 for call in self.calls if call[0] == "create")


@dataclass
class World:
    """Everything place_order needs, faked, plus handles on the fakes."""

    time: FakeTime
    store: FakeOrderStore
    catalog: FakeCatalog
    my_packages: FakeMyPackages
    roamify: FakeRoamify
    breaker: CircuitBreaker
    policy: OrderPolicy
    budget: float = 25.0

    def ports(self, budget: float | None = None) -> OrderPorts:
        return OrderPorts(
            orders=self.store,
            packages=self.catalog,
            my_packages=self.my_packages,
            roamify=self.roamify,
            breaker=self.breaker,
            clock=self.time.now,
            remaining=Deadline(self.time, self.budget if budget is None else budget),
            sleep=self.time.sleep,
        )


def world(
    packages: Iterable[Package],
    *,
    listed: Iterable[str] | None = None,
    my_packages: Iterable[MyPackage] = (),
    policy: OrderPolicy | None = None,
    failure_threshold: int = 5,
    cooldown_seconds: float = 30.0,
) -> World:
    packages = list(packages)
    time = FakeTime()
    breaker = CircuitBreaker(
        failure_threshold=failure_threshold,
        cooldown_seconds=cooldown_seconds,
        clock=time.monotonic,
        on_change=lambda old, new: None,
    )
    return World(
        time=time,
        store=FakeOrderStore(),
        catalog=FakeCatalog(packages),
        my_packages=FakeMyPackages(my_packages),
        roamify=FakeRoamify(listed=set(listed) if listed is not None else {p.reseller_id for p in packages}),
        breaker=breaker,
        policy=policy
        or OrderPolicy(
            connect_timeout=0.5, create_timeout=2.0, lookup_reserve=3.0, margin=0.5, unknown_grace=60
        ),
    )
