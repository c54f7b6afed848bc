"""In-memory stand-ins for checkout validation's ports: catalog, shop rows, Roamify, cache and clock.

No sockets and no patching: the service takes these as arguments.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from roamsync.domain.errors import StorageError
from roamsync.domain.packages import Package
from tests.fakes.packages import make_plan

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def package(reseller_id: str, *, name: str | None = None, country: str = "SE", **fields: Any) -> Package:
    """A catalog package with sensible defaults (a 5 GB, 7-day Swedish data plan at 10 USD)."""
    return make_plan(reseller_id, name=name or reseller_id, country=country, country_name=country, **fields)


class FakeRoamify:
    """`package_nodes` over a dict of listed packageIds and prices; `failure` makes every call raise."""

    def __init__(self, prices: Mapping[str, str] | None = None) -> None:
        self.prices = dict(prices or {})
        self.failure: Exception | None = None
        self.calls: list[str] = []
        self.remaining: list[Callable[[], float] | None] = []  # the time bound each call was given

    def list_catalog(self, packages: Iterable[Package]) -> None:
        for p in packages:
            if p.status == "active":
                self.prices[p.reseller_id] = str(p.price)

    def __call__(self, reseller_id: str, /, *, remaining: Callable[[], float] | None = None) -> list[Any]:
        self.calls.append(reseller_id)
        self.remaining.append(remaining)
        if self.failure is not None:
            raise self.failure
        if reseller_id not in self.prices:
            return []
        record = {"packageId": reseller_id, "price": float(self.prices[reseller_id]), "day": 7}
        return [{"countryCode": "SE", "countryName": "Sweden", "packages": [record]}]


@dataclass(frozen=True)
class FakeHit:
    result: dict[str, Any]
    source: str


class FakeValidationCache:
    """A dict with expiry against a clock, as the table adapter behaves; `failing` raises StorageError."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.items: dict[str, tuple[dict[str, Any], datetime]] = {}
        self.failing = False
        self.current_generation = 0

    def generation(self) -> int:
        if self.failing:
            raise StorageError("the cache is down")
        return self.current_generation

    def clear(self) -> int:
        self.current_generation += 1
        return self.current_generation

    def _key(self, key: str, generation: int | None) -> str:
        return f"g{self.current_generation if generation is None else generation}#{key}"

    def get(self, key: str, *, generation: int | None = None) -> FakeHit | None:
        if self.failing:
            raise StorageError("the cache is down")
        stored = self.items.get(self._key(key, generation))
        if stored is None or stored[1] <= self.clock():
            return None
        return FakeHit(copy.deepcopy(stored[0]), "table")

    def put(
        self, key: str, result: Mapping[str, Any], ttl_seconds: float, *, generation: int | None = None
    ) -> None:
        if self.failing:
            raise StorageError("the cache is down")
        if ttl_seconds > 0:
            # Whole seconds, as the adapter stores expires_at for DynamoDB's TTL.
            expires_at = int(self.clock().timestamp() + ttl_seconds)
            self.items[self._key(key, generation)] = (
                copy.deepcopy(dict(result)),
                datetime.fromtimestamp(expires_at, UTC),
            )
