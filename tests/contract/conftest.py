"""Each port with both a fake and a real adapter, as one parametrised fixture: the in-memory fake,
the adapter on moto's DynamoDB (the tables of template.yaml), and the adapter on dynalite when it
is installed (`make dynalite-deps`; marked `dynalite`). The tests in this package state
what every one must do, so a fake cannot drift from the adapter the services run on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from roamsync.adapters.dynamo import MyPackageRepository, PackageRepository, RunRepository
from roamsync.adapters.dynamo_models import bind_models
from roamsync.adapters.orders import OrderRepository
from roamsync.adapters.validation_cache import ValidationCache
from tests.conftest import REGION, TABLE_NAMES, make_settings
from tests.fakes.catalog import FakeClock, FakeValidationCache
from tests.fakes.my_packages import FakeCatalog, FakeMyPackages, FakeRuns
from tests.fakes.orders import FakeOrderStore
from tests.fakes.sync import FakePackageStore

IMPLEMENTATIONS = ["fake", "moto", pytest.param("dynalite", marks=pytest.mark.dynalite)]


@pytest.fixture(scope="session")
def dynalite_tables() -> Iterator[tuple[str, Any]]:
    """One dynalite for the session, with the template's tables: (endpoint, its DynamoDB client).
    Skips without node or the installed package (fails under CI=true), as the dynalite stack test."""
    from roamsync_dev.template import create_tables, load_template
    from tests.e2e.test_dynalite import _missing_dynalite, _start_dynalite

    problem = _missing_dynalite()
    if problem is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the dynalite contract tests cannot run in CI: {problem}")
        pytest.skip(problem)
    process, endpoint = _start_dynalite()
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    try:
        create_tables(client, load_template(), TABLE_NAMES)
        yield endpoint, client
    finally:
        process.terminate()
        process.wait(timeout=5)


def _empty(client: Any) -> None:
    """Delete every item of every table (cheaper on dynalite than creating the tables again)."""
    for table in TABLE_NAMES.values():
        keys = [k["AttributeName"] for k in client.describe_table(TableName=table)["Table"]["KeySchema"]]
        pages = client.get_paginator("scan").paginate(TableName=table, ProjectionExpression=", ".join(keys))
        for page in pages:
            for item in page["Items"]:
                client.delete_item(TableName=table, Key={k: item[k] for k in keys})


@pytest.fixture(params=IMPLEMENTATIONS)
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The implementation under test: "fake"; or "moto" or "dynalite", tables created and empty
    and the models bound to them."""
    if request.param == "moto":
        request.getfixturevalue("aws")
        bind_models(make_settings())
    elif request.param == "dynalite":
        endpoint, client = request.getfixturevalue("dynalite_tables")
        _empty(client)
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            monkeypatch.setenv(name, value)
        bind_models(make_settings(aws_endpoint_url_dynamodb=endpoint))
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
