"""Duplicate shop rows: which rows are the same offer, and which one of each group to keep.

Two kinds of duplicate, removed in this order:

* **reseller-id duplicates** - rows mapped to the same Roamify package;
* **combination duplicates** - among what is left, rows that make a customer the same offer: same
  country, the same coverage (the set of countries the package works in), same data (or both
  unlimited), the same throttling, same days, same SMS / calls / hotspot, same sale price and
  currency. Coverage, SMS, calls, hotspot and throttling are not on the row: they come from the
  row's catalog package, so a row whose package the catalog does not hold (or a row missing
  country, days, data or sale price) is never a combination duplicate, only ever a reseller-id
  one - an offer that cannot be compared in full is not called the same as another. A regional
  plan sold for Sweden is not the same offer as a Sweden-only plan with equal data, days and price:
  it also works in the other countries it covers. Throttling is compared for finite plans too: a
  plan that slows down after 2 GB is not the same offer as one that does not.

Of each group the most complete row is kept, completeness weighted by what a customer sees
(:data:`CUSTOMER_FIELDS`); ties go to the most recently updated (then created) row, and
then to the greatest id so that the choice never depends on the order rows were read in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from roamsync.domain.my_packages import MyPackage
from roamsync.domain.packages import Package

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class DuplicateKind(StrEnum):
    RESELLER_ID = "reseller_id"
    COMBINATION = "combination"


@dataclass(frozen=True)
class OfferKey:
    """What a customer is offered; two rows with equal keys sell the same thing at the same price."""

    country_code: str
    coverage: frozenset[str]
    unlimited: bool
    data_mb: int | None
    throttled: bool
    throttle_speed_kbps: int | None
    throttle_threshold_mb: int | None
    validity_days: int
    with_sms: bool
    with_call: bool
    with_hotspot: bool
    sale_price: Decimal
    currency: str


def offer_key(row: MyPackage, package: Package | None) -> OfferKey | None:
    """The row's offer, or None when it cannot be told in full (see the module doc)."""
    if package is None or not row.country_code or not row.validity_days or row.sale_price is None:
        return None
    if not row.unlimited and row.data_mb is None:
        return None
    return OfferKey(
        country_code=row.country_code.strip().upper(),
        coverage=frozenset(code.strip().upper() for code in package.coverage),
        unlimited=row.unlimited,
        data_mb=None if row.unlimited else row.data_mb,
        throttled=package.throttled,
        throttle_speed_kbps=package.throttle_speed_kbps if package.throttled else None,
        throttle_threshold_mb=package.throttle_threshold_mb if package.throttled else None,
        validity_days=row.validity_days,
        with_sms=package.with_sms,
        with_call=package.with_call,
        with_hotspot=package.with_hotspot,
        # 12.9 and 12.90 are one price.
        sale_price=row.sale_price.normalize(),
        currency=row.currency.strip().upper(),
    )


def _filled(value: Any) -> bool:
    return value is not None and (not isinstance(value, str) or bool(value.strip()))


# What a shopper sees of a row: (field, weight, is it filled in). Price, data and days decide a
# purchase; names and place decide whether it is found; `visible` whether it is seen at all.
CUSTOMER_FIELDS: tuple[tuple[str, int, Callable[[MyPackage], bool]], ...] = (
    ("name", 3, lambda r: _filled(r.name)),
    ("sale_price", 3, lambda r: r.sale_price is not None),
    ("data", 3, lambda r: r.unlimited or r.data_mb is not None),
    ("validity_days", 3, lambda r: r.validity_days is not None),
    ("country_code", 2, lambda r: _filled(r.country_code)),
    ("country_name", 2, lambda r: _filled(r.country_name)),
    ("visible", 2, lambda r: r.visible),
    ("region", 1, lambda r: _filled(r.region)),
    ("currency", 1, lambda r: _filled(r.currency)),
)


def completeness(row: MyPackage) -> int:
    """The weighted count of customer-facing fields the row fills in."""
    return sum(weight for _name, weight, filled in CUSTOMER_FIELDS if filled(row))


def preference(row: MyPackage) -> tuple[int, datetime, datetime, str]:
    """Larger is kept: completeness, then most recently updated, then created, then id."""
    created = row.created_at or EPOCH
    return completeness(row), row.updated_at or created, created, row.id


@dataclass(frozen=True)
class Removal:
    """A row dedupe removes, the kind of duplicate it is, and the row kept in its place."""

    row: MyPackage
    kind: DuplicateKind
    kept_id: str


@dataclass(frozen=True)
class DedupePlan:
    kept: tuple[MyPackage, ...]
    removals: tuple[Removal, ...]

    def count(self, kind: DuplicateKind) -> int:
        return sum(1 for r in self.removals if r.kind is kind)


def _collapse(
    rows: Iterable[MyPackage], key: Callable[[MyPackage], Any], kind: DuplicateKind
) -> tuple[list[MyPackage], list[Removal]]:
    groups: dict[Any, list[MyPackage]] = defaultdict(list)
    kept: list[MyPackage] = []
    for row in rows:
        k = key(row)
        if k is None:
            kept.append(row)
        else:
            groups[k].append(row)
    removals: list[Removal] = []
    for group in groups.values():
        winner = max(group, key=preference)
        kept.append(winner)
        removals.extend(Removal(row, kind, winner.id) for row in group if row is not winner)
    return kept, removals


def plan_dedupe(rows: Iterable[MyPackage], packages: Mapping[str, Package]) -> DedupePlan:
    """Which rows to keep and which to remove. `packages` maps reseller_id to catalog package (rows
    whose reseller_id is missing from it are never combination duplicates). Every input row ends up
    in exactly one of `kept` and `removals`; no two kept rows share a reseller_id or an offer key."""
    kept, by_reseller = _collapse(rows, lambda r: r.reseller_id or None, DuplicateKind.RESELLER_ID)

    def combination(row: MyPackage) -> OfferKey | None:
        return offer_key(row, packages.get(row.reseller_id) if row.reseller_id else None)

    kept, by_offer = _collapse(kept, combination, DuplicateKind.COMBINATION)
    # A reseller-id winner may itself go as a combination duplicate: name the row that stays.
    survivor = {r.row.id: r.kept_id for r in by_offer}
    by_reseller = [replace(r, kept_id=survivor.get(r.kept_id, r.kept_id)) for r in by_reseller]
    kept.sort(key=lambda r: r.id)
    return DedupePlan(kept=tuple(kept), removals=(*by_reseller, *by_offer))
