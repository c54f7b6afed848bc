"""Checkout validation: may the shop sell this package right now? `proceed`, `warn` or `block`.

Valid means active in the synced catalog and, unless the cache holds a fresh answer, confirmed by
Roamify (`GET /api/esim/packages?packageId=`). The catalog is read on every validation, so a sync
that deactivates a package blocks it at once; the cache stands in only for what costs a Roamify
call (the upstream confirmation, the ranking of alternatives).

The cache key carries everything the answer was computed from besides Roamify: the package's catalog
status and content hash and, for a shop row, its mapping, prices and country. A sync that changes the
package, or an edit of the row, therefore misses the cache instead of serving a stale answer.
Only definitive answers are cached: `proceed`, `block`, and the `negative_margin` warning (Roamify
answered; its price is above the sale price). A warning because Roamify could not be reached is
never cached, so the next checkout asks again.

Roamify is asked within the time the caller has (`remaining`, the Lambda's remaining time less a
margin): the call, its retries and its waits — a 429's Retry-After included — keep inside it, and
when it runs out the answer is the designed `warn` (upstream_unreachable) the catalog vouches for,
never a Lambda timeout.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Literal

from roamsync.domain.equivalence import Alternative, destinations_for, rank_suggestions_for
from roamsync.domain.errors import StorageError, UpstreamAuthError, UpstreamError, UpstreamTimeout
from roamsync.domain.my_packages import package_promised_by
from roamsync.observability import add_count, get_logger
from roamsync.services.catalog import Target, candidate_packages, resolve_target
from roamsync.services.ports import (
    CheckoutCache,
    Clock,
    MyPackageLookup,
    PackageLookup,
    UpstreamConfirmer,
)

CACHE_KEY_VERSION = "v2"  # bump when the cached record's shape changes: old records then miss
ALTERNATIVES_LIMIT = 5

Action = Literal["proceed", "warn", "block"]
ACTIONS: tuple[Action, ...] = ("proceed", "warn", "block")


class Reason(StrEnum):
    NOT_IN_CATALOG = "not_in_catalog"  # the catalog does not hold the package the row maps to
    INACTIVE = "inactive"  # the catalog holds it as inactive (gone upstream at the last sync)
    UNKNOWN_UPSTREAM = "unknown_upstream"  # active in the catalog, but Roamify does not know it now
    UPSTREAM_UNREACHABLE = "upstream_unreachable"  # Roamify could not confirm; the catalog vouches
    NEGATIVE_MARGIN = "negative_margin"  # Roamify's price is now above the shop's sale price


@dataclass(frozen=True)
class CheckoutAnswer:
    """One validation's answer; `body()` is the HTTP reply, `http_status` its status (block: 409)."""

    action: Action
    package_id: str
    reason: Reason | None = None
    alternatives: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    my_package_id: str | None = None
    cached: bool = False

    @property
    def valid(self) -> bool:
        return self.action != "block"

    @property
    def http_status(self) -> int:
        return 409 if self.action == "block" else 200

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "action": self.action,
            "valid": self.valid,
            "packageId": self.package_id,
            "reason": self.reason.value if self.reason else None,
            "alternatives": [dict(a) for a in self.alternatives],
            "cached": self.cached,
        }
        if self.my_package_id is not None:
            body["myPackageId"] = self.my_package_id
        return body

    def record(self) -> dict[str, Any]:
        """What the cache stores: the answer without `cached`, which is the reader's to say."""
        return {k: v for k, v in self.body().items() if k != "cached"}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> CheckoutAnswer | None:
        """The answer a cached record holds, or None when the record is not one (then: a miss)."""
        try:
            action = record["action"]
            reason = record.get("reason")
            alternatives = record.get("alternatives") or []
            package_id = record["packageId"]
            if action not in ACTIONS or not isinstance(package_id, str) or not isinstance(alternatives, list):
                return None
            return cls(
                action=action,
                package_id=package_id,
                reason=Reason(reason) if reason is not None else None,
                alternatives=tuple(dict(a) for a in alternatives),
                my_package_id=record.get("myPackageId"),
                cached=True,
            )
        except (KeyError, TypeError, ValueError):
            return None


def validate_checkout(
    *,
    my_package_id: str | None,
    package_id: str | None,
    packages: PackageLookup,
    my_packages: MyPackageLookup,
    confirm_upstream: UpstreamConfirmer,
    cache: CheckoutCache,
    clock: Clock,
    cache_ttl_seconds: float,
    max_price_increase: Decimal | float,
    alternatives_limit: int = ALTERNATIVES_LIMIT,
    remaining: Callable[[], float] | None = None,
) -> CheckoutAnswer:
    """Validate exactly one of `my_package_id` / `package_id` for checkout.

    Reads the catalog (and the shop row) every time; asks Roamify only when `cache` has no fresh
    answer, and only within `remaining` (seconds left for Roamify; None: no bound). Never raises
    for Roamify or cache failures: Roamify unreachable (or out of time) with the catalog vouching
    is a `warn`, a failing cache is a miss. Raises BadRequest when neither or both ids are given or
    the row is a draft, NotFound for an unknown id, StorageError when the catalog cannot be read.
    """
    target = resolve_target(
        my_package_id=my_package_id, package_id=package_id, packages=packages, my_packages=my_packages
    )
    key = cache_key(target)
    generation = _cache_generation(cache)  # fixed now: a clear from here on is not undone by our put
    hit = _cached_answer(cache, key, generation) if generation is not None else None
    if hit is not None:
        hit = _with_current_alternatives(hit, target, packages, max_price_increase, alternatives_limit)
        _count_validation(hit)
        return hit

    answer, cacheable = _decide(
        target, confirm_upstream, packages, max_price_increase, alternatives_limit, remaining=remaining
    )
    if cacheable and generation is not None:
        record = {**answer.record(), "checkedAt": clock().isoformat()}
        try:
            cache.put(key, record, cache_ttl_seconds, generation=generation)
        except StorageError as exc:
            get_logger().warning("validation cache not written", extra={"error": str(exc)})
            add_count("CheckoutCacheErrors")
    _count_validation(answer)
    return answer


def cache_key(target: Target) -> str:
    """The logical cache key: the id asked for plus a digest of every input the answer depends on."""
    package = target.package
    inputs: dict[str, Any] = {
        "resellerId": target.reseller_id,
        "catalog": f"{package.status}:{package.content_hash}" if package is not None else "absent",
    }
    row = target.my_package
    if row is not None:
        inputs["row"] = {
            "salePrice": str(row.sale_price) if row.sale_price is not None else None,
            "basePrice": str(row.base_price) if row.base_price is not None else None,
            "currency": row.currency,
            "countryCode": row.country_code,
            "region": row.region,
            "dataMb": row.data_mb,
            "unlimited": row.unlimited,
            "validityDays": row.validity_days,
        }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:32]
    kind, ident = ("my", row.id) if row is not None else ("pkg", target.reseller_id)
    return f"checkout:{CACHE_KEY_VERSION}:{kind}:{ident}:{digest}"


def _cache_generation(cache: CheckoutCache) -> int | None:
    """The cache's current generation, or None when it cannot be read (then the cache is skipped)."""
    try:
        return cache.generation()
    except StorageError as exc:
        get_logger().warning("validation cache generation unreadable", extra={"error": str(exc)})
        add_count("CheckoutCacheErrors")
        return None


def _with_current_alternatives(
    answer: CheckoutAnswer,
    target: Target,
    packages: PackageLookup,
    max_price_increase: Decimal | float,
    limit: int,
) -> CheckoutAnswer:
    """A cached answer whose alternatives the catalog still stands behind: each still active at the
    price shown. When one is not (a sync since deactivated or repriced it), the alternatives are
    ranked again from the catalog (no Roamify call). Raises StorageError when the catalog cannot
    be read."""
    if not answer.alternatives:
        return answer
    for shown in answer.alternatives:
        current = packages.get(str(shown.get("packageId")))
        if current is None or current.status != "active" or _money(current.price) != shown.get("price"):
            break
    else:
        return answer
    add_count("CheckoutAlternativesRefreshed")
    ranked = alternatives_for(target, packages, max_price_increase, limit)
    return replace(answer, alternatives=tuple(alternative_json(a) for a in ranked))


def _cached_answer(cache: CheckoutCache, key: str, generation: int) -> CheckoutAnswer | None:
    try:
        entry = cache.get(key, generation=generation)
    except StorageError as exc:
        # The cache only saves a Roamify call; a failing one must not fail the checkout.
        get_logger().warning("validation cache unreadable", extra={"error": str(exc)})
        add_count("CheckoutCacheErrors")
        return None
    answer = CheckoutAnswer.from_record(entry.result) if entry is not None else None
    if answer is None:
        add_count("CheckoutCacheMisses")
        return None
    add_count("CheckoutCacheHits", source=entry.source if entry is not None else "unknown")
    return answer


def _decide(
    target: Target,
    confirm_upstream: UpstreamConfirmer,
    packages: PackageLookup,
    max_price_increase: Decimal | float,
    alternatives_limit: int,
    *,
    remaining: Callable[[], float] | None = None,
) -> tuple[CheckoutAnswer, bool]:
    """The answer for `target` and whether it may be cached."""
    my_id = target.my_package.id if target.my_package is not None else None

    def block(reason: Reason) -> CheckoutAnswer:
        ranked = alternatives_for(target, packages, max_price_increase, alternatives_limit)
        return CheckoutAnswer(
            "block", target.reseller_id, reason, tuple(alternative_json(a) for a in ranked), my_id
        )

    if target.package is None:
        return block(Reason.NOT_IN_CATALOG), True
    if not target.sellable:
        return block(Reason.INACTIVE), True

    try:
        if remaining is not None and remaining() <= 0:
            raise UpstreamTimeout("no time was left to ask Roamify")
        nodes = confirm_upstream(target.reseller_id, remaining=remaining)
    except UpstreamError as exc:
        kind = type(exc).__name__
        add_count("UpstreamErrors", kind=kind, operation="checkout_validate")
        log = get_logger().error if isinstance(exc, UpstreamAuthError) else get_logger().warning
        log(
            "roamify could not confirm a package; the catalog vouches for it",
            extra={"reseller_id": target.reseller_id, "error_kind": kind, "status": exc.status},
        )
        return CheckoutAnswer("warn", target.reseller_id, Reason.UPSTREAM_UNREACHABLE, (), my_id), False

    if not nodes:
        return block(Reason.UNKNOWN_UPSTREAM), True
    upstream_price = _upstream_price(nodes, target.reseller_id)
    sale_price = target.sale_price
    if upstream_price is not None and sale_price is not None and upstream_price > sale_price:
        get_logger().warning(
            "upstream price above the sale price",
            extra={
                "reseller_id": target.reseller_id,
                "my_package_id": my_id,
                "upstream_price": str(upstream_price),
                "sale_price": str(sale_price),
            },
        )
        return CheckoutAnswer("warn", target.reseller_id, Reason.NEGATIVE_MARGIN, (), my_id), True
    return CheckoutAnswer("proceed", target.reseller_id, None, (), my_id), True


def alternatives_for(
    target: Target, packages: PackageLookup, max_price_increase: Decimal | float, limit: int
) -> list[Alternative]:
    """Ranked alternatives to `target`: every plan equivalent or better in what it gives first,
    cheapest first, whether or not its price is within the automatic fallback bound (each says so),
    then the downgrades (domain.equivalence `rank_suggestions_for`).

    Candidates come from Queries on the country and region indexes. When the customer's country is
    unknown (a multi-country package bought by packageId, or a row whose country the package does
    not cover), they are held to every country the original covers (domain.equivalence
    `destinations_for`): only candidates covering all of them are offered.
    """
    row = target.my_package
    original = target.package or (package_promised_by(row, strict=False) if row else None)
    if original is None:
        return []
    destinations = destinations_for(original, target.destination)
    if not destinations:
        return []
    candidates = candidate_packages(original, destinations[0], packages)
    return rank_suggestions_for(
        original, candidates, destinations, max_price_increase=max_price_increase, limit=limit
    )


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


def alternative_json(alternative: Alternative) -> dict[str, Any]:
    """One alternative as the API shows it (camelCase, JSON-ready)."""
    package = alternative.package
    return {
        "packageId": package.reseller_id,
        "name": package.name,
        "price": _money(package.price),
        "dataMb": package.data_mb,
        "unlimited": package.unlimited,
        "validityDays": package.validity_days,
        "coverage": list(package.coverage),
        "equivalentOrBetter": alternative.equivalent_or_better,
        "downgrade": alternative.downgrade,
        "reasons": list(alternative.reasons),
        "priceDifference": _money(alternative.price_difference),
        "withinFallbackBound": alternative.within_bound,
    }


def _upstream_price(nodes: Sequence[Any], reseller_id: str) -> Decimal | None:
    """The price Roamify lists for `reseller_id` in its nodes, or None when it gives no usable one."""
    for node in nodes:
        records = node.get("packages") if isinstance(node, dict) else None
        for record in records if isinstance(records, list) else []:
            if not isinstance(record, dict) or record.get("packageId") != reseller_id:
                continue
            price = record.get("price")
            if isinstance(price, bool) or not isinstance(price, int | float | str):
                return None
            try:
                value = Decimal(str(price))
            except InvalidOperation:
                return None
            return value if value.is_finite() and value >= 0 else None
    return None


def _count_validation(answer: CheckoutAnswer) -> None:
    add_count("CheckoutValidations")  # the total, in the handler's own metric set
    add_count("CheckoutValidations", action=answer.action)
    get_logger().info(
        "checkout validated",
        extra={
            "action": answer.action,
            "reason": answer.reason.value if answer.reason else None,
            "reseller_id": answer.package_id,
            "my_package_id": answer.my_package_id,
            "cached": answer.cached,
            "alternatives": len(answer.alternatives),
        },
    )
