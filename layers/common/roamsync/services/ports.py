"""The small interfaces services depend on. Adapters implement them; tests pass fakes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from roamsync.domain.errors import UpstreamError
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.orders import Order
from roamsync.domain.packages import CatalogPage, Package
from roamsync.domain.runs import Run, RunKind, RunStatus
from roamsync.domain.sync_plan import Stored


class Clock(Protocol):
    def __call__(self) -> datetime: ...


class CatalogSource(Protocol):
    """Roamify's catalog: its pages, and one package looked up on its own."""

    def iter_catalog_pages(
        self, page_size: int = 50, *, remaining: Callable[[], float] | None = None
    ) -> Iterator[CatalogPage]:
        """Every page; with `remaining` (seconds the caller has left), no call outlasts it."""
        ...

    def lookup_packages(
        self, package_ids: Iterable[str], *, remaining: Callable[[], float] | None = None
    ) -> Iterator[tuple[str, list[Any] | UpstreamError]]:
        """Each id with the country nodes listing it (empty: Roamify does not list it), or the error
        that left it unanswered; in any order."""
        ...


class SyncLockPort(Protocol):
    """One sync at a time: `acquire` answers None when taken, else the run holding the lock."""

    def acquire(self, holder: str) -> str | None: ...

    def renew(self, holder: str) -> bool: ...

    def release(self, holder: str) -> None: ...


class PackageStore(Protocol):
    """The Packages table as the sync uses it."""

    def load_stored(self, progress: Callable[[int], None] | None = None) -> dict[str, Stored]: ...

    def get_many(self, reseller_ids: Iterable[str]) -> dict[str, Package]: ...

    def write(
        self, packages: Iterable[Package], *, on_written: Callable[[list[str]], None] | None = None
    ) -> int: ...


class RunStore(Protocol):
    def save(self, run: Run, *, expected_status: RunStatus | None = None) -> None:
        """Write the run; with `expected_status`, only over a record in that status (else Conflict)."""
        ...

    def get(self, run_id: str) -> Run | None: ...

    def latest(self, kind: RunKind, limit: int = 10) -> list[Run]: ...


class CatalogCounter(Protocol):
    """The Packages table's size by status, for health: (active, inactive)."""

    def count_by_status(self) -> tuple[int, int]: ...


class AsyncInvoker(Protocol):
    def invoke_async(self, payload: dict[str, Any]) -> None: ...


class Progress(Protocol):
    """Told how far long work got (the CLI draws a bar; handlers pass nothing)."""

    def __call__(self, stage: str, done: int, total: int | None) -> None: ...


class CatalogReader(Protocol):
    """The Packages table as mapping validation, auto-fix and dedupe read it: by key, never a Scan."""

    def get(self, reseller_id: str) -> Package | None: ...

    def get_many(self, reseller_ids: Iterable[str]) -> dict[str, Package]: ...

    def by_country(self, country_code: str) -> Iterator[Package]: ...

    def spanning(self, region: str) -> Iterator[Package]: ...


class MyPackageStore(Protocol):
    """The MyPackages table. Conditional writes raise Conflict when the row is not as expected."""

    def get(self, my_package_id: str) -> MyPackage | None: ...

    def all(self) -> Iterator[MyPackage]: ...

    def by_reseller_id(self, reseller_id: str) -> list[MyPackage]: ...

    def page(
        self,
        *,
        limit: int,
        cursor: str | None = None,
        country_code: str | None = None,
        validation_status: str | None = None,
    ) -> tuple[list[MyPackage], str | None]: ...

    def create(self, row: MyPackage) -> None: ...

    def replace(self, row: MyPackage, *, expected_updated_at: datetime | None) -> None: ...

    def delete(self, my_package_id: str, *, expected_updated_at: datetime | None) -> None: ...

    def set_validation(self, row: MyPackage, *, expected_updated_at: datetime | None) -> None: ...


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


class PackageLookup(Protocol):
    def get(self, reseller_id: str) -> Package | None: ...

    def by_country(self, country_code: str) -> Iterator[Package]: ...

    def spanning(self, region: str) -> Iterator[Package]:
        """Packages of `region` that cover more than their own country (Package.spans_beyond_its_country)."""
        ...


class MyPackageLookup(Protocol):
    def get(self, my_package_id: str) -> MyPackage | None: ...


class UpstreamConfirmer(Protocol):
    """Roamify's answer for one packageId: the country nodes listing it (empty when it is unknown).

    `remaining` reports the seconds left for the call, retries and waits included (None: no bound);
    when they run out it raises an UpstreamError, as for any failure to get an answer.
    """

    def __call__(
        self, reseller_id: str, /, *, remaining: Callable[[], float] | None = None
    ) -> Sequence[Any]: ...


class CachedEntry(Protocol):
    """What a cache hit carries: the stored record and where it was found ("process" / "table")."""

    @property
    def result(self) -> dict[str, Any]: ...

    @property
    def source(self) -> str: ...


class CheckoutCache(Protocol):
    """Cached answers, keyed within a generation that a clear bumps. A validation reads the
    generation once, when it starts, and both looks up and stores under it: an answer computed
    while the cache was being cleared is stored under the old generation, which is never read again.
    """

    def generation(self) -> int: ...

    def get(self, key: str, *, generation: int | None = None) -> CachedEntry | None: ...

    def put(
        self, key: str, result: Mapping[str, Any], ttl_seconds: float, *, generation: int | None = None
    ) -> None: ...
