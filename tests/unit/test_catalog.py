"""Where the customer goes (services.catalog.destination_of) and what a replacement is held to when
that is not known (domain.equivalence: destinations_for, compare_for, rank/best_replacement_for)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from roamsync.domain.equivalence import (
    Difference,
    best_replacement_for,
    compare_for,
    destinations_for,
    rank_alternatives_for,
)
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.packages import Package
from roamsync.services.catalog import destination_of
from tests.fakes.packages import GB
from tests.fakes.packages import make_package as package

TOLERANCE = Decimal("0.10")
EUROPE = ("AT", "DE", "DK", "SE")

SWEDEN = package("esim-sweden-30days-10gb-all")
# Roamify lists a regional plan under one of its countries: the country code says nothing of the trip.
EUROPE_PLAN = package("esim-europe-30days-10gb-all", country_code="DK", geography="regional", coverage=EUROPE)
AFRICA_PLAN = package(
    "esim-africa-adventure-30days-10gb-all",
    country_code="ZA",
    region="Africa",
    geography="regional",
    coverage=("EG", "KE", "ZA"),
)


def row(country_code: str | None) -> MyPackage:
    return MyPackage(id="m1", reseller_id="x", name="row", country_code=country_code)


# --- destination_of ------------------------------------------------------------------------------


def test_a_multi_country_package_bought_as_is_has_no_single_destination() -> None:
    assert destination_of(EUROPE_PLAN, None) is None
    assert destination_of(AFRICA_PLAN, None) is None


def test_a_single_country_package_goes_to_its_one_country() -> None:
    assert destination_of(SWEDEN, None) == "SE"
    # also when Roamify lists it under another code than the country it covers
    assert destination_of(package("x", country_code="XX", coverage=("se",)), None) == "SE"


@pytest.mark.parametrize(
    ("plan", "country", "expected"),
    [
        (EUROPE_PLAN, "se", "SE"),  # a country the plan covers: that is where the customer goes
        (EUROPE_PLAN, "NO", None),  # not covered: says nothing, the whole coverage counts
        (AFRICA_PLAN, "AF", None),  # "AF" for Africa is Afghanistan's code
        (AFRICA_PLAN, " ", None),
        (SWEDEN, "NO", "SE"),  # a single-country package still goes to its one country
    ],
)
def test_a_shop_rows_country_counts_only_when_the_package_covers_it(
    plan: Package, country: str, expected: str | None
) -> None:
    assert destination_of(plan, row(country)) == expected


def test_a_rows_country_is_taken_as_is_when_the_catalog_no_longer_holds_its_package() -> None:
    assert destination_of(None, row("no")) == "NO"
    assert destination_of(None, row(None)) is None


# --- held to the whole coverage ------------------------------------------------------------------


def test_with_no_destination_a_replacement_is_held_to_every_country_of_the_original() -> None:
    assert destinations_for(EUROPE_PLAN, None) == EUROPE
    assert destinations_for(EUROPE_PLAN, " se ") == ("SE",)
    assert destinations_for(package("x", coverage=()), None) == ()


def test_a_candidate_covering_only_some_of_the_countries_is_unusable_however_good() -> None:
    denmark = package("esim-denmark-30days-50gb-all", country_code="DK", coverage=("DK",), data_mb=50 * GB)

    comparison = compare_for(EUROPE_PLAN, denmark, EUROPE, max_price_increase=TOLERANCE)

    assert comparison.worse == (Difference.NOT_COVERING_DESTINATION,)
    assert comparison.verdict.value == "unusable"
    assert comparison.destination == "AT,DE,DK,SE"


def test_the_best_replacement_covers_every_country_and_is_the_cheapest_such() -> None:
    denmark = package(
        "esim-denmark-30days-50gb-all",
        country_code="DK",
        coverage=("DK",),
        data_mb=50 * GB,
        price=Decimal("5"),
    )
    wide = package(
        "esim-europe-30days-20gb-all", coverage=(*EUROPE, "NO"), data_mb=20 * GB, price=Decimal("10.5")
    )
    wider = package(
        "esim-global-30days-20gb-all", coverage=(*EUROPE, "US"), data_mb=20 * GB, price=Decimal("10.9")
    )
    smaller = package("esim-europe-30days-3gb-all", coverage=EUROPE, data_mb=3 * GB, price=Decimal("4"))
    candidates = [denmark, wider, smaller, wide]

    best = best_replacement_for(EUROPE_PLAN, candidates, EUROPE, max_price_increase=TOLERANCE)
    ranked = rank_alternatives_for(EUROPE_PLAN, candidates, EUROPE, max_price_increase=TOLERANCE)

    assert best == wide
    assert [(a.package.reseller_id, a.equivalent_or_better) for a in ranked] == [
        (wide.reseller_id, True),
        (wider.reseller_id, True),
        (smaller.reseller_id, False),  # a downgrade, offered only; Denmark alone is not offered at all
    ]
    assert best_replacement_for(EUROPE_PLAN, candidates, (), max_price_increase=TOLERANCE) is None
    assert rank_alternatives_for(EUROPE_PLAN, candidates, (), max_price_increase=TOLERANCE) == []
