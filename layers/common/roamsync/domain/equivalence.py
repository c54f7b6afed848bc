"""Equivalent or better: when one package may stand in for another, and how alternatives rank.

A replacement (order fallback, auto-fix of a mapping, the first suggested alternative)
must cover the customer's destination, give at least the data, the days and the SMS / calls /
hotspot the original had, and cost no more than a configured tolerance above it; among those, the
cheapest. Anything worse is labelled a downgrade with its reasons and is only ever offered.

Data, throttling included, is compared as an allowance of three numbers:

* full-speed MB: finite unthrottled → ``data_mb``; finite throttled → ``min(threshold, data_mb)``;
  unlimited unthrottled → ∞; unlimited throttled → ``throttle_threshold_mb``;
* total MB: ``data_mb``, or ∞ when unlimited;
* reduced speed: ``throttle_speed_kbps``, the speed of the data between the two.

A candidate's data is equivalent or better when its full-speed MB and its total MB are both at
least the original's, and, when the original has reduced-speed data, every MB of it the candidate
does not give at full speed comes at a reduced speed at least the original's. So:

* an unthrottled unlimited candidate beats any original;
* a throttled unlimited candidate replaces a finite original only when its threshold is at least
  the original's ``data_mb``: the customer gets all the data they paid for at full speed, and more
  at reduced speed. A 1 GB fair-use "unlimited" plan is *not* better than an unthrottled 10 GB one;
* an unlimited original needs an unlimited candidate; a throttled unlimited original accepts an
  unthrottled one, or a throttled one with threshold and speed both at least the original's; an
  unthrottled unlimited original accepts only an unthrottled unlimited candidate.

Throttle figures Roamify leaves out are never guessed in the candidate's favour: a missing
threshold or speed counts as the most generous value on the original and as zero on the candidate,
so a gap in the data can turn a replacement into a downgrade, never the reverse. Thresholds are
compared as stored; Roamify's notes often make them per day, which, read consistently on both sides
(and with validity days required to be at least the original's), leaves every verdict sound.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from roamsync.domain.packages import Package


class Difference(StrEnum):
    """One way a candidate is worse than the original; the value is the label shops and logs see."""

    SAME_PACKAGE = "same_package"
    INACTIVE = "inactive"
    NOT_COVERING_DESTINATION = "not_covering_destination"
    LESS_DATA = "less_data"
    THROTTLED = "throttled"  # less data at full speed than the original
    SLOWER_THROTTLE = "slower_throttle"  # the reduced-speed data is slower than the original's
    FEWER_DAYS = "fewer_days"
    NO_SMS = "no_sms"
    NO_CALLS = "no_calls"
    NO_HOTSPOT = "no_hotspot"
    OTHER_CURRENCY = "other_currency"  # prices in two currencies cannot be held to a tolerance
    PRICE_ABOVE_TOLERANCE = "price_above_tolerance"


# A candidate with any of these is of no use to the customer at all, so it is not even offered.
UNUSABLE: frozenset[Difference] = frozenset(
    {Difference.SAME_PACKAGE, Difference.INACTIVE, Difference.NOT_COVERING_DESTINATION}
)


class Verdict(StrEnum):
    EQUIVALENT_OR_BETTER = "equivalent_or_better"  # may be applied automatically
    DOWNGRADE = "downgrade"  # may only be offered, with its reasons
    UNUSABLE = "unusable"  # never offered: the original itself, inactive, or not covering the destination


@dataclass(frozen=True)
class Comparison:
    """How `candidate` measures against `original` for a customer going to `destination`.

    (From :func:`compare_for`, `destination` lists every destination, comma-separated.)
    """

    original: Package
    candidate: Package
    destination: str
    worse: tuple[Difference, ...]

    @property
    def equivalent_or_better(self) -> bool:
        return not self.worse

    @property
    def verdict(self) -> Verdict:
        if not self.worse:
            return Verdict.EQUIVALENT_OR_BETTER
        if UNUSABLE.intersection(self.worse):
            return Verdict.UNUSABLE
        return Verdict.DOWNGRADE

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(str(difference) for difference in self.worse)

    @property
    def price_difference(self) -> Decimal:
        """Candidate price minus original price: negative when the candidate is cheaper."""
        return self.candidate.price - self.original.price

    @property
    def content_worse(self) -> tuple[Difference, ...]:
        """`worse` without the price tolerance: how the candidate is worse in what it gives."""
        return tuple(d for d in self.worse if d is not Difference.PRICE_ABOVE_TOLERANCE)

    @property
    def within_bound(self) -> bool:
        """Whether its price is within the automatic bound (same currency, within the tolerance)."""
        return not {Difference.PRICE_ABOVE_TOLERANCE, Difference.OTHER_CURRENCY} & set(self.worse)


@dataclass(frozen=True)
class Alternative:
    """One ranked alternative to offer (or, when equivalent or better, to apply)."""

    package: Package
    equivalent_or_better: bool
    reasons: tuple[str, ...]
    price_difference: Decimal
    # Whether its price is within the automatic fallback bound (same currency, at most the tolerance
    # above the original's). Only an equivalent-or-better one within it is ever applied automatically.
    within_bound: bool = True
    downgrade: bool = field(init=False)

    def __post_init__(self) -> None:
        # Derived, not passed in, so it can never disagree with `equivalent_or_better`.
        object.__setattr__(self, "downgrade", not self.equivalent_or_better)

    @classmethod
    def from_comparison(cls, comparison: Comparison) -> Alternative:
        return cls(
            package=comparison.candidate,
            equivalent_or_better=comparison.equivalent_or_better,
            reasons=comparison.reasons,
            price_difference=comparison.price_difference,
            within_bound=comparison.within_bound,
        )

    @classmethod
    def suggested(cls, comparison: Comparison) -> Alternative:
        """The alternative as a suggestion to a person: judged on what it gives, its price only
        shown (`price_difference`, `within_bound`), never a reason to call it a downgrade."""
        return cls(
            package=comparison.candidate,
            equivalent_or_better=not comparison.content_worse,
            reasons=tuple(str(d) for d in comparison.content_worse),
            price_difference=comparison.price_difference,
            within_bound=comparison.within_bound,
        )


@dataclass(frozen=True)
class _Allowance:
    full_speed_mb: float
    total_mb: float
    reduced_kbps: float


def _allowance(package: Package, *, generous: bool) -> _Allowance:
    """The package's data as numbers; `generous` says how to read a throttle figure left out."""
    unknown = math.inf if generous else 0.0
    if package.unlimited:
        total = math.inf
    elif package.data_mb is None:
        # A finite package without an amount promises nothing a replacement can be held to.
        total = unknown
    else:
        total = float(package.data_mb)
    if not package.throttled:
        return _Allowance(full_speed_mb=total, total_mb=total, reduced_kbps=math.inf)
    threshold = unknown if package.throttle_threshold_mb is None else float(package.throttle_threshold_mb)
    speed = unknown if package.throttle_speed_kbps is None else float(package.throttle_speed_kbps)
    return _Allowance(full_speed_mb=min(threshold, total), total_mb=total, reduced_kbps=speed)


def _data_differences(original: Package, candidate: Package) -> list[Difference]:
    have = _allowance(original, generous=True)
    offered = _allowance(candidate, generous=False)
    worse: list[Difference] = []
    if offered.total_mb < have.total_mb:
        worse.append(Difference.LESS_DATA)
    # A shortfall at full speed is "throttled" only when the candidate slows down before its end;
    # otherwise it is the same shortfall as less_data (which is then already reported).
    if offered.full_speed_mb < have.full_speed_mb and offered.full_speed_mb < offered.total_mb:
        worse.append(Difference.THROTTLED)
    # Data the original gives at reduced speed that the candidate does not give at full speed.
    slow_stretch = have.total_mb > have.full_speed_mb and offered.full_speed_mb < have.total_mb
    if slow_stretch and offered.reduced_kbps < have.reduced_kbps:
        worse.append(Difference.SLOWER_THROTTLE)
    return worse


def _tolerance(max_price_increase: Decimal | float) -> Decimal:
    # Through str() so that a float 0.1 means exactly 0.1, not 0.1000000000000000055…
    try:
        tolerance = (
            max_price_increase
            if isinstance(max_price_increase, Decimal)
            else Decimal(str(max_price_increase))
        )
    except InvalidOperation:
        raise ValueError(f"max_price_increase must be a number, got {max_price_increase!r}") from None
    if not tolerance.is_finite() or tolerance < 0:
        raise ValueError(f"max_price_increase must be a finite share >= 0, got {max_price_increase!r}")
    return tolerance


def _destination(destination: str) -> str:
    code = destination.strip().upper()
    if not code:
        raise ValueError("destination must be a country code, got an empty string")
    return code


def compare(
    original: Package, candidate: Package, destination: str, *, max_price_increase: Decimal | float
) -> Comparison:
    """Every way `candidate` is worse than `original` for a customer going to `destination`.

    `max_price_increase` is a share (0.10 = 10 %): a candidate may cost up to
    ``original.price * (1 + max_price_increase)``, that bound included. An empty `worse` means
    equivalent or better. Raises ValueError for a blank destination or a negative, infinite or
    non-numeric tolerance.
    """
    code = _destination(destination)
    covers = code in _coverage(candidate)
    return _compare(original, candidate, code, covers, _tolerance(max_price_increase))


def _coverage(package: Package) -> set[str]:
    return {c.strip().upper() for c in package.coverage}


def _compare(
    original: Package, candidate: Package, destination: str, covers: bool, tolerance: Decimal
) -> Comparison:
    """The comparison, given whether the candidate covers the destination(s): the only part of the
    verdict that depends on where the customer goes."""
    worse: list[Difference] = []
    if candidate.reseller_id == original.reseller_id:
        worse.append(Difference.SAME_PACKAGE)
    if candidate.status != "active":
        worse.append(Difference.INACTIVE)
    if not covers:
        worse.append(Difference.NOT_COVERING_DESTINATION)
    worse.extend(_data_differences(original, candidate))
    if candidate.validity_days < original.validity_days:
        worse.append(Difference.FEWER_DAYS)
    if original.with_sms and not candidate.with_sms:
        worse.append(Difference.NO_SMS)
    if original.with_call and not candidate.with_call:
        worse.append(Difference.NO_CALLS)
    if original.with_hotspot and not candidate.with_hotspot:
        worse.append(Difference.NO_HOTSPOT)
    if candidate.currency.upper() != original.currency.upper():
        worse.append(Difference.OTHER_CURRENCY)
    elif candidate.price > original.price * (1 + tolerance):
        worse.append(Difference.PRICE_ABOVE_TOLERANCE)
    return Comparison(original=original, candidate=candidate, destination=destination, worse=tuple(worse))


def is_equivalent_or_better(
    original: Package, candidate: Package, destination: str, *, max_price_increase: Decimal | float
) -> bool:
    """True when `candidate` may replace `original` without asking the customer (see module doc).

    The original itself (same reseller_id) is never its own replacement. Raises ValueError as
    :func:`compare` does.
    """
    return compare(
        original, candidate, destination, max_price_increase=max_price_increase
    ).equivalent_or_better


def _data_rank(package: Package) -> tuple[float, float]:
    """Larger is more data: total first (unlimited counts as most), then data at full speed."""
    allowance = _allowance(package, generous=False)
    return allowance.total_mb, allowance.full_speed_mb


def _rank_key(comparison: Comparison) -> tuple[Any, ...]:
    package = comparison.candidate
    total, full_speed = _data_rank(package)
    # Equivalent-or-better first (their `worse` is empty), then downgrades with the fewest reasons.
    group = 0 if comparison.equivalent_or_better else 1
    return (
        group,
        len(comparison.worse),
        package.price,
        -total,
        -full_speed,
        -package.validity_days,
        package.reseller_id,
    )


def _suggestion_key(comparison: Comparison) -> tuple[Any, ...]:
    # As _rank_key, but the tolerance does not demote: it bounds what is applied, not what is shown.
    return (len(comparison.content_worse) > 0, len(comparison.content_worse), *_rank_key(comparison)[2:])


def _usable_comparisons(
    original: Package,
    candidates: Iterable[Package],
    destinations: Sequence[str],
    tolerance: Decimal,
    key: Callable[[Comparison], tuple[Any, ...]] = _rank_key,
) -> list[Comparison]:
    if not destinations:
        return []
    seen: set[str] = set()
    usable: list[Comparison] = []
    for candidate in candidates:
        # The same package can arrive twice (country query plus region fallbacks): first one wins.
        if candidate.reseller_id in seen:
            continue
        seen.add(candidate.reseller_id)
        comparison = compare_for(original, candidate, destinations, max_price_increase=tolerance)
        if comparison.verdict is not Verdict.UNUSABLE:
            usable.append(comparison)
    return sorted(usable, key=key)


def rank_alternatives(
    original: Package,
    candidates: Iterable[Package],
    destination: str,
    *,
    max_price_increase: Decimal | float,
    limit: int | None = 10,
) -> list[Alternative]:
    """Candidates worth offering instead of `original`, best first, at most `limit` (None: all).

    Equivalent-or-better ones come first, cheapest first (ties: more data with unlimited as most,
    then more days, then reseller_id); then downgrades, fewest reasons first, then cheapest. The
    original itself, inactive packages and packages not covering `destination` are left out.
    Raises ValueError for a negative limit, and as :func:`compare` does.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    ranked = _usable_comparisons(original, candidates, (destination,), _tolerance(max_price_increase))
    return [Alternative.from_comparison(c) for c in ranked[:limit]]


def best_replacement(
    original: Package, candidates: Iterable[Package], destination: str, *, max_price_increase: Decimal | float
) -> Package | None:
    """The cheapest equivalent-or-better candidate (ranking order), or None: never a downgrade.

    This is what order fallback and auto-fix apply. Raises ValueError as :func:`compare` does.
    """
    ranked = _usable_comparisons(original, candidates, (destination,), _tolerance(max_price_increase))
    if ranked and ranked[0].equivalent_or_better:
        return ranked[0].candidate
    return None


# --- when the destination is not known: the original's whole coverage --------------------------------


def destinations_for(original: Package, destination: str | None) -> tuple[str, ...]:
    """The countries a replacement for `original` is held to.

    The customer's destination when it is known; otherwise (a multi-country package bought as is)
    every country the original covers, sorted: the customer may be going to any of them, so a
    replacement must be equivalent or better in each. Empty when neither is known.
    """
    if destination is not None and destination.strip():
        return (_destination(destination),)
    return tuple(sorted({code.strip().upper() for code in original.coverage if code.strip()}))


def compare_for(
    original: Package,
    candidate: Package,
    destinations: Sequence[str],
    *,
    max_price_increase: Decimal | float,
) -> Comparison:
    """:func:`compare` for a customer who may be going to any of `destinations`.

    `worse` holds every way the candidate is worse for at least one of them, so it is empty (the
    candidate equivalent or better) only when it is equivalent or better for each; a candidate
    missing any of them is NOT_COVERING_DESTINATION, hence unusable. Raises ValueError for no
    destinations, and as :func:`compare` does.
    """
    if not destinations:
        raise ValueError("destinations must name at least one country")
    codes = [_destination(d) for d in destinations]
    covered = _coverage(candidate)
    covers = all(code in covered for code in codes)
    return _compare(original, candidate, ",".join(codes), covers, _tolerance(max_price_increase))


def rank_alternatives_for(
    original: Package,
    candidates: Iterable[Package],
    destinations: Sequence[str],
    *,
    max_price_increase: Decimal | float,
    limit: int | None = 10,
) -> list[Alternative]:
    """:func:`rank_alternatives` held to every one of `destinations` (see :func:`compare_for`):
    only candidates covering all of them are offered, and only those equivalent or better in each
    rank as such. No destinations: nothing to offer."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    ranked = _usable_comparisons(original, candidates, destinations, _tolerance(max_price_increase))
    return [Alternative.from_comparison(c) for c in ranked[:limit]]


def rank_suggestions_for(
    original: Package,
    candidates: Iterable[Package],
    destinations: Sequence[str],
    *,
    max_price_increase: Decimal | float,
    limit: int | None = 10,
) -> list[Alternative]:
    """What to suggest to a person instead of `original`, best first, at most `limit` (None: all).

    Every candidate equivalent or better in what it gives (data, days, SMS / calls / hotspot, same
    currency) comes first, cheapest first, whatever its price: the tolerance bounds what is applied
    automatically, not what is suggested, so each says whether it is `within_bound`. Then the
    downgrades, fewest reasons first, then cheapest; a price is never one of their reasons. Held
    to every one of `destinations` as :func:`rank_alternatives_for` is. Raises ValueError for a
    negative limit, and as :func:`compare` does.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    ranked = _usable_comparisons(
        original, candidates, destinations, _tolerance(max_price_increase), key=_suggestion_key
    )
    return [Alternative.suggested(c) for c in ranked[:limit]]


def best_replacement_for(
    original: Package,
    candidates: Iterable[Package],
    destinations: Sequence[str],
    *,
    max_price_increase: Decimal | float,
) -> Package | None:
    """The cheapest candidate equivalent or better for every one of `destinations`, or None (also
    when there are no destinations): never a downgrade for any of them."""
    ranked = _usable_comparisons(original, candidates, destinations, _tolerance(max_price_increase))
    if ranked and ranked[0].equivalent_or_better:
        return ranked[0].candidate
    return None


# Region → reseller_ids tried as fallbacks when the customer's own country offers nothing suitable.
# They are only *candidates*: every one still goes through best_replacement / rank_alternatives, so
# a 3 GB regional plan is never handed to a customer who bought 100 GB. The ids follow Roamify's
# naming (regional "Europe", "Asia Pacific", ... plans); override per deployment when they differ.
DEFAULT_REGION_FALLBACKS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "Europe": (
            "esim-europe-30days-10gb-all",
            "esim-europe-30days-20gb-all",
            "esim-europe-30days-50gb-all",
        ),
        "Asia": ("esim-asia-pacific-30days-10gb-all", "esim-asia-pacific-30days-20gb-all"),
        "Oceania": ("esim-asia-pacific-30days-10gb-all", "esim-asia-pacific-30days-20gb-all"),
        "Middle East": ("esim-middle-east-30days-10gb-all", "esim-middle-east-30days-20gb-all"),
        "Africa": ("esim-africa-adventure-30days-10gb-all", "esim-africa-adventure-30days-20gb-all"),
        "Americas": (
            "esim-north-america-30days-10gb-all",
            "esim-latin-america-30days-10gb-all",
            "esim-global-30days-10gb-all",
        ),
    }
)


def _region_key(region: str) -> str:
    return region.strip().casefold()


@dataclass(frozen=True)
class RegionFallbacks:
    """Configured fallback candidates per region (matched case-insensitively)."""

    by_region: Mapping[str, tuple[str, ...]]

    @classmethod
    def default(cls) -> RegionFallbacks:
        return cls.from_mapping(DEFAULT_REGION_FALLBACKS)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Iterable[str]]) -> RegionFallbacks:
        """Validate region → reseller_ids. Raises ValueError naming the first bad entry.

        A region mapped to an empty list has no fallbacks; an id listed twice is kept once.
        """
        if not isinstance(mapping, Mapping):
            raise ValueError(
                f"region fallbacks must map region names to lists of ids, got {type(mapping).__name__}"
            )
        by_region: dict[str, tuple[str, ...]] = {}
        names: dict[str, str] = {}
        for region, ids in mapping.items():
            if not isinstance(region, str) or not region.strip():
                raise ValueError(f"region fallbacks: region names must be non-empty strings, got {region!r}")
            name = region.strip()
            if _region_key(name) in names:
                raise ValueError(
                    f"region fallbacks: region {name!r} is listed twice (as {names[_region_key(name)]!r})"
                )
            # A bare string is iterable too: {"Europe": "esim-x"} would otherwise become six ids.
            if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
                raise ValueError(
                    f"region fallbacks: {name!r} must map to a list of reseller ids, got {ids!r}"
                )
            cleaned: list[str] = []
            for reseller_id in ids:
                if not isinstance(reseller_id, str) or not reseller_id.strip():
                    raise ValueError(
                        f"region fallbacks: {name!r} lists {reseller_id!r}; "
                        "reseller ids must be non-empty strings"
                    )
                if reseller_id.strip() not in cleaned:
                    cleaned.append(reseller_id.strip())
            names[_region_key(name)] = name
            by_region[name] = tuple(cleaned)
        return cls(by_region=MappingProxyType(by_region))

    @classmethod
    def from_json(cls, text: str) -> RegionFallbacks:
        """Parse ``{"Europe": ["esim-…", …], …}``. Raises ValueError on bad JSON or a bad shape."""
        try:
            parsed = json.loads(text)
        except (json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"region fallbacks are not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise ValueError(
                "region fallbacks must be a JSON object of region -> [reseller ids], "
                f"got {type(parsed).__name__}"
            )
        for region, ids in parsed.items():
            if not isinstance(ids, list):
                raise ValueError(f"region fallbacks: {region!r} must map to a JSON array, got {ids!r}")
        return cls.from_mapping(parsed)

    def with_overrides(self, overrides: RegionFallbacks) -> RegionFallbacks:
        """This configuration with every region in `overrides` replaced (an empty list removes one)."""
        replaced = {_region_key(region) for region in overrides.by_region}
        kept = {r: ids for r, ids in self.by_region.items() if _region_key(r) not in replaced}
        return RegionFallbacks.from_mapping({**kept, **overrides.by_region})

    def ids_for(self, region: str) -> tuple[str, ...]:
        """The configured reseller_ids for `region`, in order; none for an unknown region."""
        key = _region_key(region)
        for name, ids in self.by_region.items():
            if _region_key(name) == key:
                return ids
        return ()

    def fallback_candidates(
        self, region: str, catalog_lookup: Callable[[str], Package | None]
    ) -> list[Package]:
        """The configured packages for `region` that the catalog knows, in configured order.

        Unknown ids are skipped. These are candidates only: pass them to :func:`best_replacement`
        or :func:`rank_alternatives`, never apply one directly.
        """
        found = (catalog_lookup(reseller_id) for reseller_id in self.ids_for(region))
        return [package for package in found if package is not None]
