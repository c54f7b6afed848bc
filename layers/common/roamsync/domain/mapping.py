"""Mapping validation: why a shop row's Roamify mapping is broken, the health of all of them, and when
an automatic repair is allowed.

A row is checked against the catalog package its `reseller_id` names, in this order (the first
failing check is the reason):

1. ``missing_reseller_id`` - the row maps to nothing (a draft);
2. ``not_in_catalog`` - the catalog has never held that reseller_id;
3. ``inactive_upstream`` - Roamify stopped listing it (the sync deactivated it);
4. ``negative_margin`` - Roamify's price is above the row's sale price.

An auto-fix remaps a row to another package only when that package is equivalent or better
(:func:`roamsync.domain.equivalence.best_replacement_for`, the same rule order fallback applies) *and*
keeps the sale margin: the new upstream price is at most the old one and at most the sale price, so
the customer gets no less and the shop earns no less per sale. A row without a sale price is never
fixed: its margin cannot be shown to be kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from roamsync.domain.equivalence import best_replacement_for
from roamsync.domain.my_packages import MyPackage, package_promised_by
from roamsync.domain.packages import Package


class InvalidReason(StrEnum):
    """Why a row's mapping is invalid; the value is what the API, the CLI and the table show."""

    MISSING_RESELLER_ID = "missing_reseller_id"
    NOT_IN_CATALOG = "not_in_catalog"
    INACTIVE_UPSTREAM = "inactive_upstream"
    NEGATIVE_MARGIN = "negative_margin"


# A draft (no reseller_id) is deliberately unmapped: mapping it is the shop's decision, not ours.
FIXABLE: frozenset[InvalidReason] = frozenset(
    {InvalidReason.NOT_IN_CATALOG, InvalidReason.INACTIVE_UPSTREAM, InvalidReason.NEGATIVE_MARGIN}
)

# The fields validation owns; every other field of a row is the shop's.
VALIDATION_FIELDS: frozenset[str] = frozenset({"validation_status", "validation_reason", "validated_at"})


def check_mapping(row: MyPackage, package: Package | None) -> InvalidReason | None:
    """Why `row` is invalid given `package` (its reseller_id's catalog entry, None when the catalog
    has none), or None when the mapping is valid."""
    if not row.reseller_id:
        return InvalidReason.MISSING_RESELLER_ID
    if package is None:
        return InvalidReason.NOT_IN_CATALOG
    if package.status != "active":
        return InvalidReason.INACTIVE_UPSTREAM
    if row.sale_price is not None and package.price > row.sale_price:
        return InvalidReason.NEGATIVE_MARGIN
    return None


def with_verdict(row: MyPackage, reason: InvalidReason | None, now: datetime) -> MyPackage | None:
    """`row` carrying the verdict, stamped `now`; None when the row already records exactly this
    verdict (so a validation that changes nothing writes nothing)."""
    status = "valid" if reason is None else "invalid"
    stored_reason = reason.value if reason is not None else None
    if row.validation_status == status and row.validation_reason == stored_reason:
        return None
    return row.model_copy(
        update={"validation_status": status, "validation_reason": stored_reason, "validated_at": now}
    )


def content_of(row: MyPackage) -> dict[str, Any]:
    """The row's own fields, validation state left out: what "edited since" is judged on."""
    return row.model_dump(mode="json", exclude=set(VALIDATION_FIELDS))


@dataclass(frozen=True)
class MappingHealth:
    """Validation state over every row. `health_score` is the valid share in percent, one decimal,
    None when there are no rows; rows never validated count against it."""

    total: int
    valid: int
    invalid: int

    @property
    def unvalidated(self) -> int:
        return self.total - self.valid - self.invalid

    @property
    def health_score(self) -> float | None:
        if self.total == 0:
            return None
        return round(100 * self.valid / self.total, 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "totalPackages": self.total,
            "validPackages": self.valid,
            "invalidPackages": self.invalid,
            "unvalidatedPackages": self.unvalidated,
            "healthScore": self.health_score,
        }


def health_of(rows: Iterable[MyPackage]) -> MappingHealth:
    total = valid = invalid = 0
    for row in rows:
        total += 1
        if row.validation_status == "valid":
            valid += 1
        elif row.validation_status == "invalid":
            invalid += 1
    return MappingHealth(total=total, valid=valid, invalid=invalid)


def original_for(row: MyPackage, package: Package | None) -> Package | None:
    """What a replacement for `row` must be at least as good as.

    The mapped catalog package when the catalog holds it (inactive or not). Otherwise a stand-in
    built from what the row promises its customers, with every fact the row does not record read
    in the customer's favour: SMS, calls and hotspot all required, no throttling, and the row's
    base price (else its sale price) as the price. None when the row does not say enough (country,
    days, data) to hold a replacement to it.
    """
    if package is not None:
        return package
    return package_promised_by(row, strict=True)


def keeps_margin(row: MyPackage, original: Package, candidate: Package) -> bool:
    """True when remapping `row` from `original` to `candidate` costs the shop nothing per sale."""
    if row.sale_price is None:
        return False
    return candidate.price <= original.price and candidate.price <= row.sale_price


def choose_fix(
    row: MyPackage,
    original: Package,
    candidates: Sequence[Package],
    destinations: str | Sequence[str],
    *,
    max_price_increase: Decimal | float,
) -> Package | None:
    """The package an auto-fix may remap `row` to: the cheapest candidate equivalent or better for
    every one of `destinations` (one country, or all the original covers), when it also keeps the
    sale margin; else None. Never a downgrade."""
    wanted = (destinations,) if isinstance(destinations, str) else tuple(destinations)
    best = best_replacement_for(original, candidates, wanted, max_price_increase=max_price_increase)
    if best is None or not keeps_margin(row, original, best):
        return None
    return best


def apply_fix(row: MyPackage, replacement: Package, now: datetime) -> MyPackage:
    """`row` remapped to `replacement`: its new reseller_id and upstream (base) price, valid as of
    `now`. What the customer sees (name, data, days, sale price) stays as it was: the replacement
    gives at least that."""
    return row.model_copy(
        update={
            "reseller_id": replacement.reseller_id,
            "base_price": replacement.price,
            "updated_at": now,
            "validation_status": "valid",
            "validation_reason": None,
            "validated_at": now,
        }
    )
