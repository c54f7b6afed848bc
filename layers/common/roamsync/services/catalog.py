"""Catalog look-ups shared by checkout validation, order placement and mapping validation."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from roamsync.domain.errors import BadRequest, NotFound
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.packages import Package
from roamsync.services.ports import MyPackageLookup, PackageLookup

GLOBAL_REGION = "Global"


@dataclass(frozen=True)
class Target:
    """What a customer is buying: the catalog package (None when the catalog no longer has it),
    the Roamify id it maps to, where they travel, and the shop's row and sale price if any."""

    reseller_id: str
    package: Package | None
    destination: str | None
    my_package: MyPackage | None = None

    @property
    def sale_price(self) -> Decimal | None:
        return self.my_package.sale_price if self.my_package else None

    @property
    def sellable(self) -> bool:
        return self.package is not None and self.package.status == "active"


def destination_of(package: Package | None, my_package: MyPackage | None) -> str | None:
    """The customer's country, when it is known; None when a replacement must cover the package's
    whole coverage.

    * A shop row's country counts when the package covers it (or when the catalog no longer holds
      the package, so there is no coverage to check it against). A regional row stored with a code
      its package does not cover (e.g. "AF" for an "Africa" plan, which is Afghanistan's code) says
      nothing about where the customer goes.
    * Otherwise, a single-country package's one country.
    * Otherwise (a multi-country package bought as is, whatever country Roamify lists it under):
      None — the customer may be going to any country it covers.
    """
    coverage = {code.strip().upper() for code in package.coverage} if package is not None else None
    if my_package is not None and my_package.country_code and my_package.country_code.strip():
        code = my_package.country_code.strip().upper()
        if coverage is None or code in coverage:
            return code
    if coverage is not None and len(coverage) == 1:
        return next(iter(coverage))
    return None


def resolve_target(
    *,
    my_package_id: str | None,
    package_id: str | None,
    packages: PackageLookup,
    my_packages: MyPackageLookup,
) -> Target:
    """Resolve exactly one of `my_package_id` / `package_id`.

    Raises BadRequest when neither or both are given or a shop row maps to nothing, NotFound when
    the id is unknown to roamsync (a reseller_id unknown to the catalog is NotFound as well).
    """
    if bool(my_package_id) == bool(package_id):
        raise BadRequest("give exactly one of myPackageId or packageId")
    if my_package_id:
        row = my_packages.get(my_package_id)
        if row is None:
            raise NotFound(f"no my-package {my_package_id!r}")
        if not row.reseller_id:
            raise BadRequest(f"my-package {my_package_id!r} is a draft mapped to no Roamify package")
        package = packages.get(row.reseller_id)
        return Target(row.reseller_id, package, destination_of(package, row), row)
    reseller_id = str(package_id)
    package = packages.get(reseller_id)
    if package is None:
        raise NotFound(f"no package {reseller_id!r} in the catalog")
    return Target(reseller_id, package, destination_of(package, None))


def candidate_packages(original: Package | None, destination: str, packages: PackageLookup) -> list[Package]:
    """Packages that might stand in for `original` in `destination`: Queries on the country index
    (the destination) and on the sparse spanning-region index (the multi-country packages of the
    original's region, and the global ones). Never a Scan. A single-country package of another
    country could never cover the destination, so none is read. The equivalence rules decide which
    of them are usable."""
    seen: dict[str, Package] = {}
    queries = [packages.by_country(destination)]
    regions = {original.region} if original is not None and original.region else set()
    regions.add(GLOBAL_REGION)
    queries.extend(packages.spanning(region) for region in sorted(regions))
    for query in queries:
        for package in query:
            seen.setdefault(package.reseller_id, package)
    return list(seen.values())
