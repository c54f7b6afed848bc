"""Catalog packages for tests, built in one place, and the in-memory Packages and MyPackages tables
the other fakes extend."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from roamsync.domain.my_packages import MyPackage
from roamsync.domain.packages import Package, package_uuid
from tests.fakes.dynamo import as_stored

GB = 1024


def make_package(reseller_id: str, **overrides: Any) -> Package:
    """A 10 GB / 30 day Sweden data-only package at $10.00, with any Package field in `overrides`."""
    base: dict[str, Any] = {
        "reseller_id": reseller_id,
        "id": package_uuid(reseller_id),
        "name": reseller_id,
        "country_code": "SE",
        "country_name": "Sweden",
        "region": "Europe",
        "geography": "local",
        "coverage": ("SE",),
        "data_mb": 10 * GB,
        "unlimited": False,
        "validity_days": 30,
        "price": Decimal("10.00"),
        "currency": "USD",
        "with_sms": False,
        "with_call": False,
        "with_hotspot": False,
        "throttled": False,
        "status": "active",
    }
    return Package(**{**base, **overrides}).with_hash()


def make_plan(
    reseller_id: str,
    *,
    country: str = "SE",
    region: str = "Europe",
    coverage: Iterable[str] | None = None,
    data_mb: int | None = 5 * GB,
    unlimited: bool = False,
    days: int = 7,
    price: str = "10.00",
    status: str = "active",
    sms: bool = False,
    calls: bool = False,
    hotspot: bool = False,
    **overrides: Any,
) -> Package:
    """`make_package` in short keywords, by default a 5 GB, 7-day Swedish data plan at 10 USD.

    Local with `country` as its coverage unless `coverage` is given (then regional); an unlimited
    plan has no data_mb. Any other Package field goes in `overrides`.
    """
    return make_package(
        reseller_id,
        country_code=country,
        region=region,
        geography="local" if coverage is None else "regional",
        coverage=tuple(coverage) if coverage is not None else (country,),
        data_mb=None if unlimited else data_mb,
        unlimited=unlimited,
        validity_days=days,
        price=Decimal(price),
        with_sms=sms,
        with_call=calls,
        with_hotspot=hotspot,
        status=status,
        **overrides,
    )


class FakePackages:
    """The Packages table: get by reseller_id, and the country and region "indexes"."""

    def __init__(self, packages: Iterable[Package] = ()) -> None:
        self.packages = {p.reseller_id: as_stored(p) for p in packages}

    def put(self, *packages: Package) -> None:
        for p in packages:
            self.packages[p.reseller_id] = as_stored(p)

    def get(self, reseller_id: str) -> Package | None:
        return self.packages.get(reseller_id)

    def by_country(self, country_code: str) -> Iterator[Package]:
        return iter([p for p in self.packages.values() if p.country_code == country_code.upper()])

    def spanning(self, region: str) -> Iterator[Package]:
        return iter([p for p in self.packages.values() if p.region == region and p.spans_beyond_its_country])


class FakeMyPackages:
    """The MyPackages table by id."""

    def __init__(self, rows: Iterable[MyPackage] = ()) -> None:
        self.rows = {r.id: r for r in rows}

    def put(self, row: MyPackage) -> None:
        self.rows[row.id] = row

    def get(self, my_package_id: str) -> MyPackage | None:
        return self.rows.get(my_package_id)
