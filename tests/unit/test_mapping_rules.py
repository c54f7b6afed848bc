"""Mapping validation rules: why a row is invalid, health over every row, and which auto-fix is safe."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamsync.domain.equivalence import is_equivalent_or_better
from roamsync.domain.mapping import (
    InvalidReason,
    MappingHealth,
    apply_fix,
    check_mapping,
    choose_fix,
    health_of,
    original_for,
    with_verdict,
)
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.packages import Package
from tests.fakes.my_packages import GB, T0, catalog_package, shop_row

TOLERANCE = Decimal("0.10")


# ---- why a row is invalid ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row_package", "catalog", "sale", "reason"),
    [
        (None, None, "15.00", InvalidReason.MISSING_RESELLER_ID),
        ("p", None, "15.00", InvalidReason.NOT_IN_CATALOG),
        ("p", catalog_package("p", status="inactive"), "15.00", InvalidReason.INACTIVE_UPSTREAM),
        ("p", catalog_package("p", price="15.01"), "15.00", InvalidReason.NEGATIVE_MARGIN),
        ("p", catalog_package("p", price="15.00"), "15.00", None),
        ("p", catalog_package("p", price="99.00"), None, None),  # no sale price: no margin to lose
    ],
)
def test_a_row_is_invalid_for_the_first_check_it_fails(row_package, catalog, sale, reason):
    row = shop_row("m1", catalog_package("p") if row_package else None, sale_price=sale)

    assert check_mapping(row, catalog) is reason


def test_a_verdict_already_on_the_row_needs_no_write():
    row = shop_row("m1", catalog_package("p"))
    judged = with_verdict(row, InvalidReason.NOT_IN_CATALOG, T0)

    assert judged is not None
    assert (judged.validation_status, judged.validation_reason, judged.validated_at) == (
        "invalid",
        "not_in_catalog",
        T0,
    )
    assert with_verdict(judged, InvalidReason.NOT_IN_CATALOG, T0 + timedelta(days=1)) is None
    assert with_verdict(judged, None, T0).validation_status == "valid"  # type: ignore[union-attr]


# ---- health --------------------------------------------------------------------------------------


def test_health_counts_every_row_and_scores_the_valid_share_to_one_decimal():
    rows = [shop_row(f"v{i}", None, validation_status="valid") for i in range(2)] + [
        shop_row("i", None, validation_status="invalid"),
        shop_row("never", None),
    ]

    health = health_of(rows)

    assert health == MappingHealth(total=4, valid=2, invalid=1)
    assert health.unvalidated == 1
    assert health.health_score == 50.0
    assert health_of(rows[:3]).health_score == 66.7


def test_health_of_no_rows_has_no_score():
    assert health_of([]).to_json() == {
        "totalPackages": 0,
        "validPackages": 0,
        "invalidPackages": 0,
        "unvalidatedPackages": 0,
        "healthScore": None,
    }


# ---- auto-fix ------------------------------------------------------------------------------------


def test_the_fix_is_the_cheapest_equivalent_or_better_package_that_keeps_the_margin():
    original = catalog_package("old", status="inactive", price="10.00")
    row = shop_row("m1", original, sale_price="15.00")
    candidates = [
        catalog_package("less-data", data_mb=1 * GB, price="5.00"),
        catalog_package("more-data", data_mb=10 * GB, price="9.00"),
        catalog_package("same", price="9.50"),
    ]

    assert choose_fix(row, original, candidates, "SE", max_price_increase=TOLERANCE) == candidates[1]


def test_no_fix_when_the_only_better_package_costs_more_than_the_original():
    # within the 10 % equivalence tolerance, but the shop would earn less per sale
    original = catalog_package("old", status="inactive", price="10.00")
    row = shop_row("m1", original, sale_price="15.00")

    fix = choose_fix(
        row, original, [catalog_package("dearer", price="10.50")], "SE", max_price_increase=TOLERANCE
    )

    assert fix is None


def test_no_fix_is_a_downgrade_however_cheap():
    original = catalog_package("old", status="inactive", sms=True)
    row = shop_row("m1", original)

    fix = choose_fix(
        row, original, [catalog_package("no-sms", price="1.00")], "SE", max_price_increase=TOLERANCE
    )

    assert fix is None


def test_a_row_without_a_sale_price_is_never_fixed():
    original = catalog_package("old", status="inactive")
    row = shop_row("m1", original, sale_price=None)

    assert (
        choose_fix(row, original, [catalog_package("new", price="5.00")], "SE", max_price_increase=TOLERANCE)
        is None
    )


def test_a_row_whose_package_the_catalog_lacks_is_held_to_everything_it_might_have_had():
    row = shop_row("m1", catalog_package("gone"), sale_price="15.00")
    original = original_for(row, None)
    assert original is not None

    plain = catalog_package("plain", price="5.00")
    full = catalog_package("full", price="9.00", sms=True, calls=True, hotspot=True)

    assert choose_fix(row, original, [plain], "SE", max_price_increase=TOLERANCE) is None
    assert choose_fix(row, original, [plain, full], "SE", max_price_increase=TOLERANCE) == full


def test_a_fixed_row_keeps_what_the_customer_sees_and_is_valid_against_its_new_package():
    original = catalog_package("old", status="inactive")
    row = shop_row("m1", original, sale_price="15.00", name="Sweden 5 GB")
    new = catalog_package("new", data_mb=10 * GB, price="8.00")

    fixed = apply_fix(row, new, T0)

    assert fixed.reseller_id == "new" and fixed.base_price == Decimal("8.00")
    assert (fixed.name, fixed.sale_price, fixed.data_mb, fixed.validity_days) == (
        row.name,
        row.sale_price,
        row.data_mb,
        row.validity_days,
    )
    assert check_mapping(fixed, new) is None
    assert fixed.validation_status == "valid" and fixed.updated_at == T0


# ---- property: an auto-fix never maps a row to a worse package ------------------------------------

COUNTRIES = ["SE", "NO", "DE"]


@st.composite
def packages(draw: st.DrawFn, reseller_id: str) -> Package:
    unlimited = draw(st.booleans())
    throttled = draw(st.booleans())
    return catalog_package(
        reseller_id,
        country=draw(st.sampled_from(COUNTRIES)),
        coverage=draw(st.sets(st.sampled_from(COUNTRIES), min_size=1, max_size=3)),
        data_mb=draw(st.sampled_from([1 * GB, 5 * GB, 10 * GB])),
        unlimited=unlimited,
        days=draw(st.sampled_from([7, 15, 30])),
        price=draw(st.sampled_from(["5.00", "9.00", "10.00", "10.50", "12.00"])),
        status=draw(st.sampled_from(["active", "active", "inactive"])),
        sms=draw(st.booleans()),
        calls=draw(st.booleans()),
        hotspot=draw(st.booleans()),
        throttled=throttled,
        throttle_speed_kbps=draw(st.none() | st.sampled_from([128, 1000])) if throttled else None,
        throttle_threshold_mb=draw(st.none() | st.sampled_from([1 * GB, 10 * GB])) if throttled else None,
    )


@st.composite
def fix_scenarios(draw: st.DrawFn) -> tuple[MyPackage, Package | None, list[Package]]:
    mapped = draw(packages("original"))
    in_catalog = draw(st.booleans())
    row = shop_row(
        "m1",
        mapped,
        sale_price=draw(st.sampled_from(["8.00", "10.00", "15.00"]) | st.none()),
        country_code=draw(st.sampled_from(COUNTRIES)),
    )
    candidates = [draw(packages(f"c{i}")) for i in range(draw(st.integers(0, 8)))]
    return row, mapped if in_catalog else None, candidates


@settings(max_examples=150, deadline=None)
@given(fix_scenarios())
def test_an_auto_fix_never_maps_a_row_to_a_worse_package(scenario):
    row, package, candidates = scenario
    original = original_for(row, package)
    if original is None:
        return
    destination = row.country_code or original.country_code

    fix = choose_fix(row, original, candidates, destination, max_price_increase=TOLERANCE)

    if fix is not None:
        assert fix in candidates
        assert is_equivalent_or_better(original, fix, destination, max_price_increase=TOLERANCE)
        assert fix.price <= original.price and row.sale_price is not None and fix.price <= row.sale_price
        assert check_mapping(apply_fix(row, fix, T0), fix) is None
