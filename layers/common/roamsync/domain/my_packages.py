"""The reseller's own sellable packages ("my packages"), each mapped to a Roamify reseller_id."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from roamsync.domain.packages import Package, package_uuid

ValidationStatus = Literal["valid", "invalid"]


class MyPackage(BaseModel):
    """One row of MyPackages. `reseller_id` is None for a draft that maps to nothing yet."""

    model_config = ConfigDict(frozen=True)

    id: str
    reseller_id: str | None
    name: str
    country_code: str | None = None
    country_name: str | None = None
    region: str | None = None
    data_mb: int | None = None
    unlimited: bool = False
    validity_days: int | None = None
    base_price: Decimal | None = None
    sale_price: Decimal | None = None
    currency: str = "USD"
    visible: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    validation_status: ValidationStatus | None = None
    validation_reason: str | None = None
    validated_at: datetime | None = None


def package_promised_by(row: MyPackage, *, strict: bool) -> Package | None:
    """The package `row` promises its customers, rebuilt from the row when the catalog lost it.

    Always a local, unthrottled package with the row's reseller_id, name, country, region and
    currency. The row does not record SMS, calls, hotspot or throttling, and the two callers read
    that gap differently, so the rule is explicit:

    - ``strict=True`` (remapping, domain.mapping ``original_for``): every unrecorded fact is read
      in the customer's favour (SMS, calls and hotspot all required); the base price, else the sale
      price, is the price; the stand-in is "inactive". None unless the row names a reseller_id,
      country, days, data (or unlimited) and a price.
    - ``strict=False`` (checkout alternatives): nothing unrecorded is required; the sale price,
      else the base price, else 0, is the price; a missing country gives no coverage and missing
      days give 0. None only without a reseller_id.
    """
    if not row.reseller_id:
        return None
    if strict:
        if not row.country_code or not row.validity_days:
            return None
        if not row.unlimited and row.data_mb is None:
            return None
        price = row.base_price if row.base_price is not None else row.sale_price
        if price is None:
            return None
    else:
        price = row.sale_price if row.sale_price is not None else (row.base_price or Decimal(0))
    country = (row.country_code or "").strip().upper()
    return Package(
        reseller_id=row.reseller_id,
        id=package_uuid(row.reseller_id),
        name=row.name,
        country_code=country,
        country_name=row.country_name or "",
        region=(row.region or "").strip(),
        geography="local",
        # strict has already required a country_code, so it always keeps its (country,) coverage
        coverage=(country,) if strict or country else (),
        data_mb=None if strict and row.unlimited else row.data_mb,
        unlimited=row.unlimited,
        validity_days=row.validity_days or 0,
        price=price,
        currency=row.currency,
        with_sms=strict,
        with_call=strict,
        with_hotspot=strict,
        throttled=False,
        status="inactive" if strict else "active",
    )
