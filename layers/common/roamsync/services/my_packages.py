"""The shop's own packages: create from a catalog package, read, list, edit, delete.

A row mapped to a Roamify package takes what describes the package (data, unlimited, days, region,
currency, and its price as the base price unless one is given) from the catalog; the shop sets the
name, sale price, visibility and, for a multi-country package, the country it sells it for (one the
package covers). An unknown reseller_id is refused unless the row is explicitly a draft, which may
map to nothing or to a package the catalog does not know yet and carries whatever the caller gives.
A reseller_id another row already maps is refused (409): that would be a reseller-id duplicate.
Every write stores the row's validation verdict with it, and every edit is conditional on the row
being unchanged since it was read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from roamsync.domain.errors import BadRequest, Conflict, NotFound
from roamsync.domain.mapping import check_mapping, with_verdict
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.packages import Package
from roamsync.services.catalog import destination_of
from roamsync.services.ports import CatalogReader, Clock, MyPackageStore

# What a mapped row takes from its catalog package, never from the caller.
CATALOG_FIELDS = ("data_mb", "unlimited", "validity_days", "region")


@dataclass(frozen=True)
class MyPackageInput:
    """What a caller may say about a row (None: not given)."""

    reseller_id: str | None = None
    name: str | None = None
    sale_price: Decimal | None = None
    base_price: Decimal | None = None
    currency: str | None = None
    visible: bool | None = None
    country_code: str | None = None
    country_name: str | None = None
    region: str | None = None
    data_mb: int | None = None
    unlimited: bool | None = None
    validity_days: int | None = None

    def given(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def _catalog_package(reseller_id: str, packages: CatalogReader, *, draft: bool) -> Package | None:
    package = packages.get(reseller_id)
    if package is None and not draft:
        raise NotFound(f"no package {reseller_id!r} in the catalog (create it as a draft to map it anyway)")
    return package


def _not_mapped_yet(reseller_id: str, my_packages: MyPackageStore, *, but: str | None = None) -> None:
    """One row per Roamify package: a second one is a reseller-id duplicate dedupe would remove."""
    taken = [row.id for row in my_packages.by_reseller_id(reseller_id) if row.id != but]
    if taken:
        raise Conflict(f"package {reseller_id!r} is already mapped by my-package {taken[0]!r}")


def _mapped_fields(package: Package, given: Mapping[str, Any], current: MyPackage | None) -> dict[str, Any]:
    """What a row mapped to `package` takes from it, with the caller's input checked against it.

    On create or remap every catalog field is (re)filled; on any other edit only a given country is
    checked, so an edit never silently changes what a row promises its customers.
    """
    taken = [name for name in CATALOG_FIELDS if name in given]
    if taken:
        raise BadRequest(f"{', '.join(taken)} come from the catalog package and cannot be set")
    currency = given.get("currency")
    if currency is not None and currency.upper() != package.currency.upper():
        raise BadRequest(f"currency must be the package's ({package.currency})")
    remap = current is None or current.reseller_id != package.reseller_id
    values: dict[str, Any] = {}
    if remap:
        values.update(
            region=package.region,
            data_mb=package.data_mb,
            unlimited=package.unlimited,
            validity_days=package.validity_days,
            currency=package.currency,
        )
    if remap or "country_code" in given:
        country = given.get("country_code") or (current.country_code if current else None)
        covered = {c.upper() for c in package.coverage} | {package.country_code.upper()}
        if country and country.upper() not in covered:
            if "country_code" in given:
                raise BadRequest(f"package {package.reseller_id!r} does not cover {country.upper()}")
            country = None  # the row's old country is not this package's: take the package's own
        # A multi-country package bought as is has no single country: the row says none rather than
        # the package's first listing (DK for a Europe plan, AF — Afghanistan's code — for Africa).
        country = country or destination_of(package, None)
        country = country.upper() if country else None
        name = given.get("country_name")
        if name is None:
            name = package.country_name if country and country == package.country_code.upper() else None
        values.update(country_code=country, country_name=name)
    return values


def create_my_package(
    spec: MyPackageInput,
    *,
    draft: bool,
    my_packages: MyPackageStore,
    packages: CatalogReader,
    clock: Clock,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> MyPackage:
    """Create a row. Raises BadRequest for missing or contradictory input, NotFound for a
    reseller_id the catalog does not know (unless `draft`), Conflict for one another row maps."""
    given = spec.given()
    if not draft:
        if not spec.reseller_id:
            raise BadRequest('resellerId is required (or create a draft with "draft": true)')
        if spec.sale_price is None:
            raise BadRequest('salePrice is required (or create a draft with "draft": true)')
    package = _catalog_package(spec.reseller_id, packages, draft=draft) if spec.reseller_id else None
    if spec.reseller_id:
        _not_mapped_yet(spec.reseller_id, my_packages)
    values: dict[str, Any] = {**given, "visible": spec.visible if spec.visible is not None else not draft}
    if package is not None:
        values.update(_mapped_fields(package, given, None))
        values.setdefault("name", package.name)
        values.setdefault("base_price", package.price)
    if not values.get("name"):
        raise BadRequest("name is required for a row that maps to no catalog package")
    if values.get("country_code"):
        values["country_code"] = values["country_code"].upper()
    now = clock()
    row = MyPackage(id=new_id(), created_at=now, updated_at=now, **{"reseller_id": None, **values})
    row = with_verdict(row, check_mapping(row, package), now) or row
    my_packages.create(row)
    return row


def get_my_package(my_package_id: str, *, my_packages: MyPackageStore) -> MyPackage:
    row = my_packages.get(my_package_id)
    if row is None:
        raise NotFound(f"no my-package {my_package_id!r}")
    return row


def update_my_package(
    my_package_id: str,
    spec: MyPackageInput,
    *,
    draft: bool,
    my_packages: MyPackageStore,
    packages: CatalogReader,
    clock: Clock,
) -> MyPackage:
    """Change the given fields of a row. A new reseller_id remaps it (the catalog fields follow the
    new package). Raises NotFound (no such row, or an unknown reseller_id unless `draft`),
    BadRequest for nothing to change or contradictory input, Conflict when the row changed since
    it was read."""
    given = spec.given()
    if not given:
        raise BadRequest("give at least one field to change")
    current = get_my_package(my_package_id, my_packages=my_packages)
    reseller_id = given.get("reseller_id", current.reseller_id)
    package = _catalog_package(reseller_id, packages, draft=draft) if reseller_id else None
    if reseller_id and reseller_id != current.reseller_id:
        _not_mapped_yet(reseller_id, my_packages, but=current.id)
    values = dict(given)
    if package is not None:
        values.update(_mapped_fields(package, given, current))
        if reseller_id != current.reseller_id:
            values.setdefault("base_price", package.price)
    if values.get("country_code"):
        values["country_code"] = values["country_code"].upper()
    now = clock()
    row = current.model_copy(update={**values, "updated_at": now})
    row = MyPackage.model_validate(row.model_dump())
    row = with_verdict(row, check_mapping(row, package), now) or row
    my_packages.replace(row, expected_updated_at=current.updated_at)
    return row


def delete_my_package(my_package_id: str, *, my_packages: MyPackageStore) -> MyPackage:
    """Delete a row and return it as it was. Raises NotFound, or Conflict when it changed since read."""
    current = get_my_package(my_package_id, my_packages=my_packages)
    my_packages.delete(my_package_id, expected_updated_at=current.updated_at)
    return current


def _money(value: Decimal | None) -> str | None:
    return format(value, "f") if value is not None else None


def my_package_json(row: MyPackage) -> dict[str, Any]:
    """A row as the API and the CLI show it (camelCase; prices as exact decimal strings)."""
    return {
        "id": row.id,
        "resellerId": row.reseller_id,
        "name": row.name,
        "countryCode": row.country_code,
        "countryName": row.country_name,
        "region": row.region,
        "dataMb": row.data_mb,
        "unlimited": row.unlimited,
        "validityDays": row.validity_days,
        "basePrice": _money(row.base_price),
        "salePrice": _money(row.sale_price),
        "currency": row.currency,
        "visible": row.visible,
        "createdAt": row.created_at.isoformat() if row.created_at else None,
        "updatedAt": row.updated_at.isoformat() if row.updated_at else None,
        "validationStatus": row.validation_status,
        "validationReason": row.validation_reason,
        "validatedAt": row.validated_at.isoformat() if row.validated_at else None,
    }


def list_my_packages(
    *,
    my_packages: MyPackageStore,
    limit: int,
    cursor: str | None = None,
    country_code: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """One page of rows, filtered by country and validation status ("valid", "invalid",
    "unvalidated"). Raises BadRequest for a cursor this API did not give out."""
    rows, next_cursor = my_packages.page(
        limit=limit, cursor=cursor, country_code=country_code, validation_status=status
    )
    return {"items": [my_package_json(r) for r in rows], "nextCursor": next_cursor}
