"""Equivalent or better: which package may replace another, and how alternatives rank."""

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamsync.domain.equivalence import (
    DEFAULT_REGION_FALLBACKS,
    Alternative,
    Difference,
    RegionFallbacks,
    Verdict,
    best_replacement,
    compare,
    is_equivalent_or_better,
    rank_alternatives,
)
from roamsync.domain.packages import Package
from tests.fakes.packages import make_package as pkg

GB = 1024
TOLERANCE = Decimal("0.10")


def unlimited(
    reseller_id: str, *, threshold_mb: int | None = None, speed_kbps: int | None = None, **fields: Any
):
    throttled = threshold_mb is not None or speed_kbps is not None
    return pkg(
        reseller_id,
        data_mb=None,
        unlimited=True,
        throttled=throttled,
        throttle_threshold_mb=threshold_mb,
        throttle_speed_kbps=speed_kbps,
        **fields,
    )


def worse(original: Package, candidate: Package, destination: str = "SE") -> tuple[Difference, ...]:
    return compare(original, candidate, destination, max_price_increase=TOLERANCE).worse


def replaces(original: Package, candidate: Package, destination: str = "SE") -> bool:
    return is_equivalent_or_better(original, candidate, destination, max_price_increase=TOLERANCE)


ORIGINAL = pkg("esim-sweden-30days-10gb-all")


# --- coverage -------------------------------------------------------------------------------------


def test_a_candidate_that_does_not_cover_the_destination_is_not_a_replacement():
    # given a bigger, cheaper package that works only in Norway
    norway = pkg("esim-norway-30days-20gb-all", coverage=("NO",), data_mb=20 * GB, price=Decimal("5.00"))
    # then it cannot replace a Sweden package for a Sweden trip
    assert not replaces(ORIGINAL, norway)
    assert worse(ORIGINAL, norway) == (Difference.NOT_COVERING_DESTINATION,)


def test_a_regional_candidate_covering_the_destination_qualifies_and_the_code_is_matched_in_any_case():
    # given a Europe package whose coverage includes Sweden
    europe = pkg("esim-europe-30days-10gb-all", coverage=("DE", "NO", "SE"), region="Europe")
    # when the destination is given in lower case, then it still counts as covered
    assert replaces(ORIGINAL, europe, destination=" se ")


def test_a_blank_destination_is_refused():
    with pytest.raises(ValueError, match="destination"):
        compare(ORIGINAL, pkg("other"), "  ", max_price_increase=TOLERANCE)


# --- data -----------------------------------------------------------------------------------------


def test_less_data_is_not_a_replacement():
    smaller = pkg("esim-sweden-30days-5gb-all", data_mb=5 * GB, price=Decimal("6.00"))
    assert worse(ORIGINAL, smaller) == (Difference.LESS_DATA,)


def test_the_same_or_more_data_is_a_replacement():
    assert replaces(ORIGINAL, pkg("same-data", data_mb=10 * GB))
    assert replaces(ORIGINAL, pkg("more-data", data_mb=20 * GB))


def test_an_unthrottled_unlimited_candidate_replaces_any_finite_original():
    huge = pkg("esim-sweden-30days-100gb-all", data_mb=100 * GB)
    assert replaces(huge, unlimited("esim-sweden-30days-unlimited-all"))


def test_an_unlimited_original_is_never_replaced_by_a_finite_candidate():
    original = unlimited("esim-sweden-30days-unlimited-all")
    finite = pkg("esim-sweden-30days-100gb-all", data_mb=100 * GB)
    assert worse(original, finite) == (Difference.LESS_DATA,)


# --- throttled unlimited --------------------------------------------------------------------------


def test_a_throttled_unlimited_candidate_does_not_replace_a_finite_plan_larger_than_its_threshold():
    # given a fair-use "unlimited" plan that slows down after 3 GB
    fair_use = unlimited("esim-sweden-30days-unlimited-fup-all", threshold_mb=3 * GB, speed_kbps=512)
    # then it is not better than 10 GB at full speed: the customer would lose 7 GB of full speed
    assert worse(ORIGINAL, fair_use) == (Difference.THROTTLED,)


def test_a_throttled_unlimited_candidate_replaces_a_finite_plan_when_its_threshold_covers_all_the_data():
    # given a fair-use plan whose full-speed allowance is exactly the original's 10 GB
    fair_use = unlimited("esim-sweden-30days-unlimited-fup-all", threshold_mb=10 * GB, speed_kbps=512)
    # then the customer gets everything they paid for at full speed, and more at reduced speed
    assert replaces(ORIGINAL, fair_use)


def test_a_throttled_unlimited_candidate_with_an_unknown_threshold_is_not_trusted():
    no_threshold = unlimited("esim-sweden-30days-unlimited-fup-all", speed_kbps=1000)
    assert worse(ORIGINAL, no_threshold) == (Difference.THROTTLED,)


def test_an_unthrottled_unlimited_original_is_not_replaced_by_a_throttled_unlimited_one():
    original = unlimited("esim-sweden-30days-unlimited-all")
    fair_use = unlimited("esim-sweden-30days-unlimited-fup-all", threshold_mb=100 * GB, speed_kbps=10_000)
    assert worse(original, fair_use) == (Difference.THROTTLED,)


def test_a_throttled_unlimited_original_is_replaced_by_one_throttled_no_sooner_and_no_slower():
    original = unlimited("fup-2gb-512k", threshold_mb=2 * GB, speed_kbps=512)
    assert replaces(original, unlimited("fup-2gb-512k-b", threshold_mb=2 * GB, speed_kbps=512))
    assert replaces(original, unlimited("fup-3gb-1m", threshold_mb=3 * GB, speed_kbps=1000))
    assert replaces(original, unlimited("no-fup"))


def test_a_throttled_unlimited_original_is_not_replaced_by_one_throttled_sooner():
    original = unlimited("fup-2gb-512k", threshold_mb=2 * GB, speed_kbps=512)
    assert worse(original, unlimited("fup-1gb-1m", threshold_mb=1 * GB, speed_kbps=1000)) == (
        Difference.THROTTLED,
    )


def test_a_throttled_unlimited_original_is_not_replaced_by_one_throttled_to_a_lower_speed():
    original = unlimited("fup-2gb-512k", threshold_mb=2 * GB, speed_kbps=512)
    assert worse(original, unlimited("fup-5gb-128k", threshold_mb=5 * GB, speed_kbps=128)) == (
        Difference.SLOWER_THROTTLE,
    )


# --- days, features -------------------------------------------------------------------------------


def test_fewer_days_is_not_a_replacement_and_more_days_is():
    assert worse(ORIGINAL, pkg("week", validity_days=7)) == (Difference.FEWER_DAYS,)
    assert replaces(ORIGINAL, pkg("quarter", validity_days=90))


@pytest.mark.parametrize(
    ("feature", "label"),
    [
        ("with_sms", Difference.NO_SMS),
        ("with_call", Difference.NO_CALLS),
        ("with_hotspot", Difference.NO_HOTSPOT),
    ],
)
def test_a_feature_the_original_has_must_be_kept(feature: str, label: Difference):
    original = pkg("with-feature", **{feature: True})
    assert worse(original, pkg("without-feature")) == (label,)
    assert replaces(original, pkg("also-with-feature", **{feature: True}))


def test_features_the_original_lacks_are_not_required():
    voice = pkg("voice", with_sms=True, with_call=True, with_hotspot=True)
    assert replaces(ORIGINAL, voice)


# --- price ----------------------------------------------------------------------------------------


def test_a_price_exactly_at_the_tolerance_is_a_replacement():
    # given a $10.00 original and a 10 % tolerance (a float, as settings hold it)
    at_limit = pkg("at-limit", price=Decimal("11.00"))
    assert is_equivalent_or_better(ORIGINAL, at_limit, "SE", max_price_increase=0.1)


def test_a_price_one_cent_above_the_tolerance_is_not_a_replacement():
    above = pkg("above-limit", price=Decimal("11.01"))
    assert compare(ORIGINAL, above, "SE", max_price_increase=0.1).worse == (Difference.PRICE_ABOVE_TOLERANCE,)


def test_with_no_tolerance_only_the_same_price_or_less_is_accepted():
    assert is_equivalent_or_better(ORIGINAL, pkg("same-price"), "SE", max_price_increase=0)
    assert not is_equivalent_or_better(
        ORIGINAL, pkg("cent-more", price=Decimal("10.01")), "SE", max_price_increase=0
    )


def test_a_price_in_another_currency_is_not_held_to_the_tolerance():
    euro = pkg("euro", currency="EUR", price=Decimal("1.00"))
    assert worse(ORIGINAL, euro) == (Difference.OTHER_CURRENCY,)


@pytest.mark.parametrize("bad", [-0.01, Decimal("-1"), math.inf, math.nan, Decimal("NaN")])
def test_a_negative_or_non_finite_tolerance_is_refused(bad: Any):
    with pytest.raises(ValueError, match="max_price_increase"):
        compare(ORIGINAL, pkg("other"), "SE", max_price_increase=bad)


# --- inactive, self -------------------------------------------------------------------------------


def test_an_inactive_candidate_is_not_a_replacement_and_is_not_offered():
    retired = pkg("retired", status="inactive", price=Decimal("1.00"))
    assert worse(ORIGINAL, retired) == (Difference.INACTIVE,)
    assert rank_alternatives(ORIGINAL, [retired], "SE", max_price_increase=TOLERANCE) == []


def test_the_original_is_never_its_own_replacement_and_is_not_offered():
    # given the original listed among the candidates, even a cheaper, active copy of it
    cheaper_self = ORIGINAL.model_copy(update={"price": Decimal("1.00")})
    assert not replaces(ORIGINAL, ORIGINAL)
    assert compare(ORIGINAL, cheaper_self, "SE", max_price_increase=TOLERANCE).verdict is Verdict.UNUSABLE
    assert rank_alternatives(ORIGINAL, [ORIGINAL, cheaper_self], "SE", max_price_increase=TOLERANCE) == []
    assert best_replacement(ORIGINAL, [cheaper_self], "SE", max_price_increase=TOLERANCE) is None


def test_a_candidate_not_covering_the_destination_is_not_offered():
    norway = pkg("norway", coverage=("NO",))
    assert rank_alternatives(ORIGINAL, [norway], "SE", max_price_increase=TOLERANCE) == []


# --- ranking --------------------------------------------------------------------------------------


def ids(alternatives: list[Alternative]) -> list[str]:
    return [a.package.reseller_id for a in alternatives]


def test_equivalent_or_better_candidates_come_first_cheapest_first():
    cheap_downgrade = pkg("cheap-downgrade", data_mb=1 * GB, price=Decimal("1.00"))
    dear = pkg("dear", price=Decimal("10.50"))
    cheap = pkg("cheap", price=Decimal("9.00"))
    ranked = rank_alternatives(ORIGINAL, [cheap_downgrade, dear, cheap], "SE", max_price_increase=TOLERANCE)
    assert ids(ranked) == ["cheap", "dear", "cheap-downgrade"]


def test_equally_priced_replacements_rank_by_data_unlimited_first_then_days_then_id():
    ranked = rank_alternatives(
        ORIGINAL,
        [
            pkg("b-20gb-30d", data_mb=20 * GB),
            pkg("a-20gb-30d", data_mb=20 * GB),
            pkg("c-20gb-90d", data_mb=20 * GB, validity_days=90),
            unlimited("d-unlimited-fup", threshold_mb=50 * GB, speed_kbps=512),
            unlimited("e-unlimited"),
        ],
        "SE",
        max_price_increase=TOLERANCE,
    )
    assert ids(ranked) == ["e-unlimited", "d-unlimited-fup", "c-20gb-90d", "a-20gb-30d", "b-20gb-30d"]


def test_downgrades_rank_by_fewest_reasons_then_cheapest():
    two_reasons = pkg("two-reasons", data_mb=1 * GB, validity_days=7, price=Decimal("1.00"))
    one_reason_dear = pkg("one-reason-dear", validity_days=7, price=Decimal("9.00"))
    one_reason_cheap = pkg("one-reason-cheap", data_mb=5 * GB, price=Decimal("4.00"))
    ranked = rank_alternatives(
        ORIGINAL, [two_reasons, one_reason_dear, one_reason_cheap], "SE", max_price_increase=TOLERANCE
    )
    assert ids(ranked) == ["one-reason-cheap", "one-reason-dear", "two-reasons"]


def test_a_downgrade_is_labelled_with_every_reason_and_its_price_difference():
    # given an original with SMS and hotspot, and a smaller, pricier package without hotspot
    original = pkg("original", with_sms=True, with_hotspot=True)
    candidate = pkg("candidate", data_mb=3 * GB, with_sms=True, price=Decimal("12.50"))
    [alternative] = rank_alternatives(original, [candidate], "SE", max_price_increase=TOLERANCE)
    assert alternative.downgrade is True
    assert alternative.equivalent_or_better is False
    assert alternative.reasons == ("less_data", "no_hotspot", "price_above_tolerance")
    assert alternative.price_difference == Decimal("2.50")


def test_an_equivalent_alternative_has_no_reasons_and_is_not_a_downgrade():
    [alternative] = rank_alternatives(
        ORIGINAL, [pkg("cheaper", price=Decimal("8.00"))], "SE", max_price_increase=TOLERANCE
    )
    assert (alternative.equivalent_or_better, alternative.downgrade, alternative.reasons) == (True, False, ())
    assert alternative.price_difference == Decimal("-2.00")


def test_the_ranking_is_cut_at_the_limit():
    candidates = [pkg(f"p{i}", price=Decimal(5 + i)) for i in range(5)]
    assert ids(rank_alternatives(ORIGINAL, candidates, "SE", max_price_increase=TOLERANCE, limit=2)) == [
        "p0",
        "p1",
    ]
    assert len(rank_alternatives(ORIGINAL, candidates, "SE", max_price_increase=TOLERANCE, limit=None)) == 5


def test_a_package_listed_twice_is_offered_once():
    twice = pkg("twice")
    assert ids(rank_alternatives(ORIGINAL, [twice, twice], "SE", max_price_increase=TOLERANCE)) == ["twice"]


# --- best replacement -----------------------------------------------------------------------------


def test_the_best_replacement_is_the_cheapest_equivalent_or_better():
    cheap_downgrade = pkg("cheap-downgrade", data_mb=1 * GB, price=Decimal("1.00"))
    cheap = pkg("cheap", price=Decimal("9.00"))
    dear = pkg("dear", data_mb=50 * GB, price=Decimal("10.90"))
    assert (
        best_replacement(ORIGINAL, [cheap_downgrade, dear, cheap], "SE", max_price_increase=TOLERANCE)
        == cheap
    )


def test_there_is_no_best_replacement_when_every_candidate_is_a_downgrade():
    downgrades = [
        pkg("small", data_mb=1 * GB),
        pkg("short", validity_days=7),
        pkg("dear", price=Decimal("20")),
    ]
    assert best_replacement(ORIGINAL, downgrades, "SE", max_price_increase=TOLERANCE) is None


# --- region fallbacks -----------------------------------------------------------------------------


SWEDEN_100GB = pkg("esim-sweden-30days-100gb-all", data_mb=100 * GB, price=Decimal("40.00"))
EUROPE_3GB = pkg(
    "esim-europe-30days-3gb-all",
    country_code="EU",
    country_name="Europe",
    geography="regional",
    coverage=("DE", "FR", "NO", "SE"),
    data_mb=3 * GB,
    price=Decimal("6.00"),
)


def test_a_100gb_sweden_customer_never_gets_the_configured_3gb_europe_fallback():
    # given Europe's configured fallback is a 3 GB regional plan that covers Sweden and is cheaper
    fallbacks = RegionFallbacks.from_mapping({"Europe": ["esim-europe-30days-3gb-all"]})
    catalog = {EUROPE_3GB.reseller_id: EUROPE_3GB}
    candidates = fallbacks.fallback_candidates("Europe", catalog.get)
    assert candidates == [EUROPE_3GB]
    # when the 100 GB Sweden package needs replacing, then the fallback is not chosen
    assert best_replacement(SWEDEN_100GB, candidates, "SE", max_price_increase=TOLERANCE) is None
    # and it is only offered, labelled as a downgrade
    [offered] = rank_alternatives(SWEDEN_100GB, candidates, "SE", max_price_increase=TOLERANCE)
    assert offered.downgrade
    assert offered.reasons == ("less_data",)


def test_a_configured_region_fallback_that_is_equivalent_or_better_is_chosen():
    europe_100gb = EUROPE_3GB.model_copy(
        update={"reseller_id": "esim-europe-30days-100gb-all", "data_mb": 100 * GB, "price": Decimal("39.00")}
    )
    fallbacks = RegionFallbacks.from_mapping({"Europe": [EUROPE_3GB.reseller_id, europe_100gb.reseller_id]})
    catalog = {p.reseller_id: p for p in (EUROPE_3GB, europe_100gb)}
    candidates = fallbacks.fallback_candidates("europe", catalog.get)
    assert best_replacement(SWEDEN_100GB, candidates, "SE", max_price_increase=TOLERANCE) == europe_100gb


def test_fallback_ids_the_catalog_does_not_know_are_skipped():
    fallbacks = RegionFallbacks.from_mapping({"Europe": ["gone", EUROPE_3GB.reseller_id]})
    catalog = {EUROPE_3GB.reseller_id: EUROPE_3GB}
    assert fallbacks.fallback_candidates("Europe", catalog.get) == [EUROPE_3GB]
    assert fallbacks.fallback_candidates("Atlantis", catalog.get) == []


def test_the_built_in_fallbacks_name_candidates_for_europe():
    assert RegionFallbacks.default().ids_for("Europe") == DEFAULT_REGION_FALLBACKS["Europe"]
    assert RegionFallbacks.default().ids_for("Europe")


def test_fallbacks_are_read_from_json_and_override_only_the_regions_they_name():
    override = RegionFallbacks.from_json(
        '{"europe": ["esim-europe-30days-50gb-all", "esim-europe-30days-50gb-all"]}'
    )
    merged = RegionFallbacks.default().with_overrides(override)
    assert merged.ids_for("Europe") == ("esim-europe-30days-50gb-all",)
    assert merged.ids_for("Asia") == DEFAULT_REGION_FALLBACKS["Asia"]


def test_an_empty_list_removes_a_regions_fallbacks():
    merged = RegionFallbacks.default().with_overrides(RegionFallbacks.from_json('{"Europe": []}'))
    assert merged.ids_for("Europe") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["esim-europe-30days-10gb-all"]', "JSON object"),
        ('{"Europe": "esim-europe-30days-10gb-all"}', "JSON array"),
        ('{"Europe": ["ok", 7]}', "non-empty strings"),
        ('{"Europe": [" "]}', "non-empty strings"),
        ('{" ": ["ok"]}', "region names"),
        ('{"Europe": ["a"], "EUROPE": ["b"]}', "listed twice"),
    ],
)
def test_bad_fallback_configuration_is_refused_with_a_message(text: str, message: str):
    with pytest.raises(ValueError, match=message):
        RegionFallbacks.from_json(text)


def test_a_mapping_to_a_bare_string_is_refused():
    with pytest.raises(ValueError, match="list of reseller ids"):
        RegionFallbacks.from_mapping({"Europe": "esim-europe-30days-10gb-all"})


# --- property: the chosen replacement is never a downgrade ----------------------------------------

COUNTRIES = ("SE", "NO", "DE", "JP")


def plainly_enough_data_for_unlimited(original: Package, candidate: Package) -> bool:
    """An unlimited original: the rule restated without the module's allowance arithmetic."""
    if not candidate.unlimited:
        return False
    if not candidate.throttled:
        return True
    figures = (
        original.throttle_threshold_mb,
        original.throttle_speed_kbps,
        candidate.throttle_threshold_mb,
        candidate.throttle_speed_kbps,
    )
    return (
        original.throttled
        and None not in figures
        and candidate.throttle_threshold_mb >= original.throttle_threshold_mb
        and candidate.throttle_speed_kbps >= original.throttle_speed_kbps
    )


def plainly_enough_data_for_finite(original: Package, candidate: Package) -> bool:
    """A finite original: at least its data, and at least its full-speed data at no lower speed."""
    paid = original.data_mb
    if not candidate.unlimited and candidate.data_mb < paid:
        return False
    # How much of what was paid for the original gives at full speed, and how fast the rest is.
    if (
        original.throttled
        and original.throttle_threshold_mb is not None
        and original.throttle_threshold_mb < paid
    ):
        paid_fast, paid_slow_speed = original.throttle_threshold_mb, original.throttle_speed_kbps
    else:
        paid_fast, paid_slow_speed = paid, None
    candidate_total = math.inf if candidate.unlimited else candidate.data_mb
    if not candidate.throttled:
        candidate_fast = candidate_total
    elif candidate.throttle_threshold_mb is None:
        candidate_fast = 0
    else:
        candidate_fast = min(candidate.throttle_threshold_mb, candidate_total)
    if candidate_fast >= paid:
        return True
    # The candidate slows down inside what the original gave at reduced speed: no slower than that.
    return (
        candidate_fast >= paid_fast
        and paid_slow_speed is not None
        and candidate.throttle_speed_kbps is not None
        and candidate.throttle_speed_kbps >= paid_slow_speed
    )


def plainly_enough_data(original: Package, candidate: Package) -> bool:
    if original.unlimited:
        return plainly_enough_data_for_unlimited(original, candidate)
    return plainly_enough_data_for_finite(original, candidate)


def plainly_acceptable(original: Package, candidate: Package, destination: str, tolerance: Decimal) -> bool:
    return (
        candidate.reseller_id != original.reseller_id
        and candidate.status == "active"
        and destination in candidate.coverage
        and candidate.validity_days >= original.validity_days
        and (candidate.with_sms or not original.with_sms)
        and (candidate.with_call or not original.with_call)
        and (candidate.with_hotspot or not original.with_hotspot)
        and candidate.currency == original.currency
        and candidate.price <= original.price * (1 + tolerance)
        and plainly_enough_data(original, candidate)
    )


@st.composite
def packages(draw: st.DrawFn, reseller_id: str) -> Package:
    is_unlimited = draw(st.booleans())
    throttled = draw(st.booleans())
    return pkg(
        reseller_id,
        coverage=tuple(sorted(draw(st.sets(st.sampled_from(COUNTRIES), min_size=1, max_size=3)))),
        unlimited=is_unlimited,
        data_mb=None if is_unlimited else draw(st.sampled_from([1 * GB, 3 * GB, 5 * GB, 10 * GB, 100 * GB])),
        throttled=throttled,
        throttle_threshold_mb=draw(st.none() | st.sampled_from([1 * GB, 3 * GB, 10 * GB]))
        if throttled
        else None,
        throttle_speed_kbps=draw(st.none() | st.sampled_from([128, 512, 1000])) if throttled else None,
        validity_days=draw(st.sampled_from([7, 15, 30])),
        price=Decimal(draw(st.sampled_from([500, 900, 1000, 1050, 1100, 1101, 1500]))) / 100,
        with_sms=draw(st.booleans()),
        with_call=draw(st.booleans()),
        with_hotspot=draw(st.booleans()),
        status=draw(st.sampled_from(["active", "active", "inactive"])),
    )


# Fields that vary together when a candidate is drawn as a variant of the original.
ASPECTS: tuple[tuple[str, ...], ...] = (
    ("coverage",),
    ("unlimited", "data_mb", "throttled", "throttle_threshold_mb", "throttle_speed_kbps"),
    ("throttle_threshold_mb",),
    ("throttle_speed_kbps",),
    ("validity_days",),
    ("price",),
    ("with_sms", "with_call", "with_hotspot"),
    ("status",),
)


@st.composite
def candidates_for(draw: st.DrawFn, original: Package, reseller_id: str) -> Package:
    """A fresh random package, or (to reach the boundaries often) the original with a few aspects redrawn."""
    fresh = draw(packages(reseller_id))
    if draw(st.booleans()):
        return fresh
    changed = draw(st.sets(st.sampled_from(ASPECTS), min_size=1, max_size=3))
    update = {name: getattr(fresh, name) for aspect in changed for name in aspect}
    if not update.get("throttled", original.throttled):
        update |= {"throttle_threshold_mb": None, "throttle_speed_kbps": None}
    return pkg(
        reseller_id, **{**original.model_dump(exclude={"reseller_id", "id", "content_hash"}), **update}
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Package, list[Package], str, Decimal]:
    original = draw(packages("original"))
    count = draw(st.integers(min_value=0, max_value=8))
    candidates = [draw(candidates_for(original, f"candidate-{i}")) for i in range(count)]
    if draw(st.booleans()):
        # The original itself, possibly in a better-looking variant, may come back from a query.
        candidates.insert(draw(st.integers(0, len(candidates))), draw(packages("original")))
    destination = draw(st.sampled_from(original.coverage) | st.sampled_from(COUNTRIES))
    tolerance = draw(st.sampled_from([Decimal(0), Decimal("0.05"), Decimal("0.10"), Decimal("0.5")]))
    return original, candidates, destination, tolerance


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_the_best_replacement_is_always_equivalent_or_better_and_none_only_when_nothing_is(scenario):
    original, candidates, destination, tolerance = scenario
    passing = [c for c in candidates if plainly_acceptable(original, c, destination, tolerance)]

    chosen = best_replacement(original, candidates, destination, max_price_increase=tolerance)

    if chosen is None:
        assert passing == []
    else:
        assert plainly_acceptable(original, chosen, destination, tolerance)
        assert chosen.price == min(c.price for c in passing)


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_every_ranked_alternative_is_labelled_as_the_plain_rule_says(scenario):
    original, candidates, destination, tolerance = scenario

    ranked = rank_alternatives(original, candidates, destination, max_price_increase=tolerance, limit=None)

    offerable = {
        c.reseller_id
        for c in candidates
        if c.reseller_id != original.reseller_id and c.status == "active" and destination in c.coverage
    }
    assert {a.package.reseller_id for a in ranked} == offerable
    for alternative in ranked:
        assert alternative.equivalent_or_better == plainly_acceptable(
            original, alternative.package, destination, tolerance
        )
        assert alternative.downgrade is not alternative.equivalent_or_better
    labels = [a.equivalent_or_better for a in ranked]
    assert labels == sorted(labels, reverse=True)
