"""Each port with both a fake and a real adapter, as one parametrised fixture: the in-memory fake,
and the adapter on moto's DynamoDB (the tables of template.yaml). The tests in this package state
what both must do, so a fake cannot drift from the adapter the services run on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from roamsync.adapters.dynamo import MyPackageRepository, PackageRepository, RunRepository
from roamsync.adapters.dynamo_models import bind_models
from roamsync.adapters.orders import OrderRepository
from roamsync.adapters.validation_cache import ValidationCache
from tests.conftest import make_settings
from tests.fakes.catalog import FakeClock, FakeValidationCache
from tests.fakes.my_packages import FakeCatalog, FakeMyPackages, FakeRuns
from tests.fakes.orders import FakeOrderStore
from tests.fakes.sync import FakePackageStore

IMPLEMENTATIONS = ["fake", "moto"]


@pytest.fixture(params=IMPLEMENTATIONS)
def kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """ "fake", or "moto" with the tables created and the models bound to them."""
    if request.param == "moto":
        request.getfixturevalue("aws")
        bind_models(make_settings())
    yield request.param


@pytest.fixture
def orders(kind: str) -> Any:
    return FakeOrderStore() if kind == "fake" else OrderRepository()


@pytest.fixture
def my_packages(kind: str) -> Any:
    return FakeMyPackages() if kind == "fake" else MyPackageRepository()


@pytest.fixture
def runs(kind: str) -> Any:
    return FakeRuns() if kind == "fake" else RunRepository()


class _Catalog:
    """The Packages table as a writer (sync) and a reader (validation, checkout, orders) see it."""

    def __init__(self, kind: str) -> None:
        if kind == "fake":
            store = FakePackageStore()
            reader = FakeCatalog()
            reader.packages = store.packages  # one table, two views
            self.store: Any = store
            self.reader: Any = reader
        else:
            repository = PackageRepository(base_backoff_ms=1)
            self.store = self.reader = repository


@pytest.fixture
def catalog(kind: str) -> _Catalog:
    return _Catalog(kind)


@pytest.fixture
def clock() -> FakeClock:
    """The one clock the time-aware stores read (whole seconds at the start)."""
    return FakeClock()


@pytest.fixture
def timed_runs(kind: str, clock: FakeClock) -> Any:
    """The Runs store reading `clock` (leases are renewed on save and run out against it)."""
    return FakeRuns(clock=clock) if kind == "fake" else RunRepository(clock=clock)


@pytest.fixture
def cache(kind: str, clock: FakeClock) -> Any:
    """The validation cache reading `clock`; the adapter without its in-process copies, so every
    read goes to the table."""
    if kind == "fake":
        return FakeValidationCache(clock)
    return ValidationCache(clock=clock, max_entries=0)
