"""Checkout validation with in-memory ports: proceed / warn / block, alternatives, and the cache."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from roamsync.domain.errors import (
    BadRequest,
    NotFound,
    RateLimited,
    UpstreamAuthError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from roamsync.domain.my_packages import MyPackage
from roamsync.services.checkout import CheckoutAnswer, validate_checkout
from tests.fakes.catalog import FakeClock, FakeRoamify, FakeValidationCache, package
from tests.fakes.packages import FakeMyPackages, FakePackages

TTL = 3600
GB = 1024


class Shop:
    """The service's ports, wired as fakes sharing one clock."""

    def __init__(self, *packages: Any) -> None:
        self.clock = FakeClock()
        self.packages = FakePackages(packages)
        self.my_packages = FakeMyPackages()
        self.roamify = FakeRoamify()
        self.roamify.list_catalog(packages)
        self.cache = FakeValidationCache(self.clock)

    def validate(
        self,
        *,
        package_id: str | None = None,
        my_package_id: str | None = None,
        ttl: int = TTL,
        remaining: Callable[[], float] | None = None,
    ) -> CheckoutAnswer:
        return validate_checkout(
            my_package_id=my_package_id,
            package_id=package_id,
            packages=self.packages,
            my_packages=self.my_packages,
            confirm_upstream=self.roamify,
            cache=self.cache,
            clock=self.clock,
            cache_ttl_seconds=ttl,
            max_price_increase=Decimal("0.10"),
            remaining=remaining,
        )


def row(my_id: str, reseller_id: str | None, **fields: Any) -> MyPackage:
    values: dict[str, Any] = {"name": f"shop {my_id}", "country_code": "SE", "sale_price": Decimal("15.00")}
    values.update(fields)
    return MyPackage(id=my_id, reseller_id=reseller_id, **values)


# ---- proceed and the cache ----------------------------------------------------------------------


def test_an_active_package_roamify_confirms_may_proceed() -> None:
    shop = Shop(package("se-5gb"))

    answer = shop.validate(package_id="se-5gb")

    assert answer.body() == {
        "action": "proceed",
        "valid": True,
        "packageId": "se-5gb",
        "reason": None,
        "alternatives": [],
        "cached": False,
    }
    assert answer.http_status == 200
    assert shop.roamify.calls == ["se-5gb"]


def test_a_second_validation_within_the_ttl_comes_from_the_cache_without_asking_roamify() -> None:
    shop = Shop(package("se-5gb"))
    shop.validate(package_id="se-5gb")
    shop.clock.advance(TTL - 1)

    answer = shop.validate(package_id="se-5gb")

    assert answer.action == "proceed"
    assert answer.cached is True
    assert shop.roamify.calls == ["se-5gb"]


def test_once_the_ttl_has_passed_roamify_is_asked_again() -> None:
    shop = Shop(package("se-5gb"))
    shop.validate(package_id="se-5gb")
    shop.clock.advance(TTL)

    answer = shop.validate(package_id="se-5gb")

    assert answer.cached is False
    assert shop.roamify.calls == ["se-5gb", "se-5gb"]


def test_a_zero_ttl_caches_nothing() -> None:
    shop = Shop(package("se-5gb"))

    shop.validate(package_id="se-5gb", ttl=0)
    answer = shop.validate(package_id="se-5gb", ttl=0)

    assert answer.cached is False
    assert shop.cache.items == {}
    assert len(shop.roamify.calls) == 2


def test_a_package_the_sync_changed_misses_the_cache() -> None:
    # given a cached answer for a package
    shop = Shop(package("se-5gb"))
    shop.validate(package_id="se-5gb")

    # when a sync changes the package in the catalog
    shop.packages.put(package("se-5gb", price="11.00"))
    answer = shop.validate(package_id="se-5gb")

    # then the answer is computed afresh
    assert answer.cached is False
    assert len(shop.roamify.calls) == 2


def test_a_package_the_sync_deactivated_is_blocked_at_once_despite_a_cached_proceed() -> None:
    shop = Shop(package("se-5gb"))
    assert shop.validate(package_id="se-5gb").action == "proceed"

    shop.packages.put(package("se-5gb", status="inactive"))
    answer = shop.validate(package_id="se-5gb")

    assert answer.action == "block"
    assert answer.reason == "inactive"


def test_an_edit_of_the_shop_row_misses_the_cache() -> None:
    shop = Shop(package("se-5gb"))
    shop.my_packages.put(row("m1", "se-5gb", sale_price=Decimal("15.00")))
    shop.validate(my_package_id="m1")

    shop.my_packages.put(row("m1", "se-5gb", sale_price=Decimal("9.00")))
    answer = shop.validate(my_package_id="m1")

    assert answer.cached is False
    assert answer.reason == "negative_margin"


def test_a_cached_record_that_is_not_an_answer_is_a_miss() -> None:
    shop = Shop(package("se-5gb"))
    shop.validate(package_id="se-5gb")
    for key, (_, expires) in list(shop.cache.items.items()):
        shop.cache.items[key] = ({"action": "maybe"}, expires)

    answer = shop.validate(package_id="se-5gb")

    assert answer.action == "proceed" and answer.cached is False
    assert len(shop.roamify.calls) == 2


def test_a_failing_cache_does_not_fail_the_checkout() -> None:
    shop = Shop(package("se-5gb"))
    shop.cache.failing = True

    answer = shop.validate(package_id="se-5gb")

    assert answer.action == "proceed"
    assert answer.cached is False


# ---- warn ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        UpstreamTimeout("timed out"),
        UpstreamUnavailable("503", status=503),
        RateLimited("429", retry_after=1),
        UpstreamAuthError("401", status=401),
    ],
    ids=["timeout", "5xx", "429", "auth"],
)
def test_roamify_unreachable_with_the_catalog_vouching_is_a_warning_that_is_not_cached(
    failure: Exception,
) -> None:
    shop = Shop(package("se-5gb"))
    shop.roamify.failure = failure

    answer = shop.validate(package_id="se-5gb")

    assert answer.body() == {
        "action": "warn",
        "valid": True,
        "packageId": "se-5gb",
        "reason": "upstream_unreachable",
        "alternatives": [],
        "cached": False,
    }
    assert answer.http_status == 200
    assert shop.cache.items == {}


def test_once_roamify_is_back_the_next_validation_asks_it_and_proceeds() -> None:
    shop = Shop(package("se-5gb"))
    shop.roamify.failure = UpstreamTimeout("timed out")
    shop.validate(package_id="se-5gb")

    shop.roamify.failure = None
    answer = shop.validate(package_id="se-5gb")

    assert answer.action == "proceed" and answer.cached is False
    assert len(shop.roamify.calls) == 2


def test_an_upstream_price_above_the_sale_price_is_a_negative_margin_warning() -> None:
    # given a shop row selling at 15 a package Roamify now charges 16.50 for
    shop = Shop(package("se-5gb", price="14.00"))
    shop.roamify.prices["se-5gb"] = "16.50"
    shop.my_packages.put(row("m1", "se-5gb", sale_price=Decimal("15.00")))

    # when it is validated
    answer = shop.validate(my_package_id="m1")

    # then checkout may go on, with the warning
    assert answer.body() == {
        "action": "warn",
        "valid": True,
        "packageId": "se-5gb",
        "reason": "negative_margin",
        "alternatives": [],
        "cached": False,
        "myPackageId": "m1",
    }
    # and, Roamify having answered, the warning is cached
    assert shop.validate(my_package_id="m1").cached is True


@pytest.mark.parametrize("sale_price", ["16.50", "20.00"])
def test_a_sale_price_at_or_above_the_upstream_price_proceeds(sale_price: str) -> None:
    shop = Shop(package("se-5gb"))
    shop.roamify.prices["se-5gb"] = "16.50"
    shop.my_packages.put(row("m1", "se-5gb", sale_price=Decimal(sale_price)))

    assert shop.validate(my_package_id="m1").action == "proceed"


def test_a_package_id_without_a_shop_price_has_no_margin_to_check() -> None:
    shop = Shop(package("se-5gb"))
    shop.roamify.prices["se-5gb"] = "99.00"

    assert shop.validate(package_id="se-5gb").action == "proceed"


# ---- block --------------------------------------------------------------------------------------


def swedish_catalog() -> list[Any]:
    """An inactive 5 GB / 7 days / 10 USD plan and what the catalog offers around it."""
    return [
        package("se-5gb-7d", status="inactive"),
        package("se-10gb-7d", data_mb=10 * GB, price="10.50"),  # better, within 10 %
        package("se-5gb-15d", days=15, price="10.20"),  # better, cheapest
        package("se-20gb-30d", data_mb=20 * GB, days=30, price="25.00"),  # better but too dear
        package("se-1gb-7d", data_mb=1 * GB, price="3.00"),  # less data
        package("se-5gb-3d", days=3, price="6.00"),  # fewer days
        package("eu-5gb-7d", country="EU", coverage=["SE", "DK"], price="10.90"),  # regional, better
        package("dk-5gb-7d", country="DK", price="5.00"),  # does not cover Sweden: never offered
        # global, covers Sweden, better
        package(
            "gl-10gb-7d", country="GL", region="Global", coverage=["SE", "US"], data_mb=10 * GB, price="10.95"
        ),
        package("se-old", status="inactive", price="1.00"),  # inactive: never offered
    ]


def test_an_inactive_package_is_blocked_with_equivalent_or_better_alternatives_first() -> None:
    shop = Shop(*swedish_catalog())

    answer = shop.validate(package_id="se-5gb-7d")

    body = answer.body()
    assert answer.http_status == 409
    assert (body["action"], body["valid"], body["reason"]) == ("block", False, "inactive")
    # five at most: every equivalent-or-better one, cheapest first, the one too dear to be applied
    # automatically included (and saying so), before any downgrade
    assert [a["packageId"] for a in body["alternatives"]] == [
        "se-5gb-15d",
        "se-10gb-7d",
        "eu-5gb-7d",
        "gl-10gb-7d",
        "se-20gb-30d",
    ]
    assert [a["equivalentOrBetter"] for a in body["alternatives"]] == [True] * 5
    assert [a["withinFallbackBound"] for a in body["alternatives"]] == [True, True, True, True, False]
    assert body["alternatives"][4]["reasons"] == []
    assert body["alternatives"][4]["priceDifference"] == 15.0
    assert all(a["downgrade"] is not a["equivalentOrBetter"] for a in body["alternatives"])
    assert all("SE" in a["coverage"] for a in body["alternatives"])


def test_downgrades_come_after_every_equivalent_plan_labelled_and_never_for_their_price() -> None:
    shop = Shop(*swedish_catalog(), package("se-1gb-30d", data_mb=1 * GB, days=30, price="40.00"))

    answer = validate_checkout(
        my_package_id=None,
        package_id="se-5gb-7d",
        packages=shop.packages,
        my_packages=shop.my_packages,
        confirm_upstream=shop.roamify,
        cache=shop.cache,
        clock=shop.clock,
        cache_ttl_seconds=TTL,
        max_price_increase=Decimal("0.10"),
        alternatives_limit=10,
    )

    alternatives = answer.body()["alternatives"]
    assert [(a["packageId"], a["downgrade"], a["reasons"]) for a in alternatives[5:]] == [
        ("se-1gb-7d", True, ["less_data"]),
        ("se-5gb-3d", True, ["fewer_days"]),
        ("se-1gb-30d", True, ["less_data"]),
    ]
    assert [a["equivalentOrBetter"] for a in alternatives] == [True] * 5 + [False] * 3
    assert alternatives[7]["withinFallbackBound"] is False


def test_an_alternative_carries_what_a_shop_needs_to_show_it() -> None:
    shop = Shop(*swedish_catalog())

    first = shop.validate(package_id="se-5gb-7d").body()["alternatives"][0]

    assert first == {
        "packageId": "se-5gb-15d",
        "name": "se-5gb-15d",
        "price": 10.2,
        "dataMb": 5 * GB,
        "unlimited": False,
        "validityDays": 15,
        "coverage": ["SE"],
        "equivalentOrBetter": True,
        "downgrade": False,
        "reasons": [],
        "priceDifference": 0.2,
        "withinFallbackBound": True,
    }


def test_a_block_is_cached_with_its_alternatives() -> None:
    shop = Shop(*swedish_catalog())
    first = shop.validate(package_id="se-5gb-7d")

    again = shop.validate(package_id="se-5gb-7d")

    assert again.cached is True
    assert again.body()["alternatives"] == first.body()["alternatives"]
    assert again.http_status == 409


def test_a_package_roamify_no_longer_knows_is_blocked_as_unknown_upstream() -> None:
    # given an active catalog package that Roamify has dropped since the last sync
    shop = Shop(*swedish_catalog(), package("se-gone"))
    del shop.roamify.prices["se-gone"]

    answer = shop.validate(package_id="se-gone")

    assert (answer.action, answer.reason) == ("block", "unknown_upstream")
    assert answer.alternatives and answer.alternatives[0]["equivalentOrBetter"] is True
    # and that definitive answer is cached
    assert shop.validate(package_id="se-gone").cached is True
    assert shop.roamify.calls == ["se-gone"]


def test_a_shop_row_whose_package_left_the_catalog_is_ranked_against_the_row() -> None:
    # given a 10 GB / 30 days row sold at 20 USD, mapped to a package the catalog no longer has
    shop = Shop(
        package("se-10gb-30d-new", data_mb=10 * GB, days=30, price="18.00"),
        package("se-20gb-30d", data_mb=20 * GB, days=30, price="21.50"),  # within 10 % of 20
        package("se-3gb-30d", data_mb=3 * GB, days=30, price="8.00"),
        package("se-10gb-7d", data_mb=10 * GB, days=7, price="9.00"),
    )
    shop.my_packages.put(
        row("m1", "se-10gb-30d-old", data_mb=10 * GB, validity_days=30, sale_price=Decimal("20.00"))
    )

    # when it is validated
    answer = shop.validate(my_package_id="m1")

    # then it is blocked, with alternatives measured against the row's data, days and sale price
    body = answer.body()
    assert (body["reason"], body["myPackageId"], body["packageId"]) == (
        "not_in_catalog",
        "m1",
        "se-10gb-30d-old",
    )
    assert [(a["packageId"], a["equivalentOrBetter"]) for a in body["alternatives"]] == [
        ("se-10gb-30d-new", True),
        ("se-20gb-30d", True),
        ("se-3gb-30d", False),  # downgrades: fewest reasons, then cheapest
        ("se-10gb-7d", False),
    ]
    assert body["alternatives"][0]["priceDifference"] == -2.0
    assert shop.roamify.calls == []  # the catalog alone decides a block


def test_a_multi_country_package_bought_by_id_is_only_offered_alternatives_covering_all_its_countries() -> (
    None
):
    shop = Shop(
        package("eu-5gb", country="EU", coverage=["SE", "DK"], status="inactive"),
        package("eu-10gb", country="EU", coverage=["SE", "DK", "NO"], data_mb=10 * GB, price="10.50"),
        package("se-10gb", data_mb=10 * GB, price="9.00"),  # Sweden only
    )

    answer = shop.validate(package_id="eu-5gb")

    assert [a["packageId"] for a in answer.alternatives] == ["eu-10gb"]


def test_a_regional_package_listed_under_one_of_its_countries_is_not_replaced_by_that_country_alone() -> None:
    # given an inactive Europe plan Roamify lists under Denmark, and a bigger, cheaper Denmark-only plan
    shop = Shop(
        package("eu-5gb", country="DK", coverage=["SE", "DK", "NO"], status="inactive"),
        package("dk-10gb", country="DK", data_mb=10 * GB, price="8.00"),
        package("eu-10gb", country="DE", coverage=["SE", "DK", "NO", "DE"], data_mb=10 * GB, price="10.50"),
    )

    # when it is validated by its packageId
    answer = shop.validate(package_id="eu-5gb")

    # then only a plan covering all of its countries is offered
    assert answer.action == "block"
    assert [(a["packageId"], a["equivalentOrBetter"]) for a in answer.alternatives] == [("eu-10gb", True)]


def test_a_regional_row_whose_country_code_the_package_does_not_cover_is_held_to_its_whole_coverage() -> None:
    # given a row for an inactive "Africa" plan stored with code AF, which is Afghanistan's
    africa = ["EG", "KE", "ZA"]
    shop = Shop(
        package("africa-5gb", country="AF", region="Africa", coverage=africa, status="inactive"),
        package("af-10gb", country="AF", region="Asia", data_mb=10 * GB, price="8.00"),  # Afghanistan
        package(
            "africa-10gb", country="ZA", region="Africa", coverage=africa, data_mb=10 * GB, price="10.50"
        ),
    )
    shop.my_packages.put(row("m1", "africa-5gb", country_code="AF", region="Africa"))

    answer = shop.validate(my_package_id="m1")

    assert [a["packageId"] for a in answer.alternatives] == ["africa-10gb"]


def test_with_no_time_left_roamify_is_not_asked_and_the_catalog_vouches_with_a_warning() -> None:
    shop = Shop(package("se-5gb"))

    answer = shop.validate(package_id="se-5gb", remaining=lambda: 0.0)

    assert (answer.action, answer.reason, answer.http_status) == ("warn", "upstream_unreachable", 200)
    assert shop.roamify.calls == []
    assert shop.cache.items == {}


def test_roamify_is_asked_within_the_time_the_caller_has() -> None:
    shop = Shop(package("se-5gb"))

    def remaining() -> float:
        return 4.2

    shop.validate(package_id="se-5gb", remaining=remaining)

    assert shop.roamify.remaining == [remaining]


# ---- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ids",
    [{}, {"package_id": "se-5gb", "my_package_id": "m1"}, {"package_id": "", "my_package_id": None}],
    ids=["neither", "both", "empty"],
)
def test_anything_but_exactly_one_id_is_a_bad_request_and_nothing_is_cached(ids: dict[str, Any]) -> None:
    shop = Shop(package("se-5gb"))
    shop.my_packages.put(row("m1", "se-5gb"))

    with pytest.raises(BadRequest):
        shop.validate(**ids)

    assert shop.cache.items == {}
    assert shop.roamify.calls == []


@pytest.mark.parametrize("ids", [{"package_id": "nope"}, {"my_package_id": "nope"}])
def test_an_unknown_id_is_not_found_and_nothing_is_cached(ids: dict[str, Any]) -> None:
    shop = Shop(package("se-5gb"))

    with pytest.raises(NotFound):
        shop.validate(**ids)

    assert shop.cache.items == {}
    assert shop.roamify.calls == []


def test_a_draft_row_mapped_to_nothing_is_a_bad_request() -> None:
    shop = Shop(package("se-5gb"))
    shop.my_packages.put(row("draft", None))

    with pytest.raises(BadRequest):
        shop.validate(my_package_id="draft")

    assert shop.cache.items == {}
