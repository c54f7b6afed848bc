"""Dedupe rules: what is a duplicate, which row of a group is kept, and that nothing is lost."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from roamsync.domain.dedupe import DuplicateKind, completeness, offer_key, plan_dedupe
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.packages import Package
from tests.fakes.my_packages import GB, T0, catalog_package, dedupe_scenario, shop_row


def test_five_reseller_id_and_three_combination_duplicates_go_and_the_look_alikes_stay():
    rows, catalog, must_go, look_alikes = dedupe_scenario()

    plan = plan_dedupe(rows, catalog)

    assert {r.row.id for r in plan.removals} == must_go
    assert plan.count(DuplicateKind.RESELLER_ID) == 5
    assert plan.count(DuplicateKind.COMBINATION) == 3
    kept = {r.id for r in plan.kept}
    assert look_alikes <= kept
    assert {"a-keep", "b-keep"} <= kept
    assert {r.kept_id for r in plan.removals} == {"a-keep", "b-keep"}


def test_the_most_complete_row_is_kept_whatever_its_age():
    package = catalog_package("p")
    complete = shop_row("old-but-complete", package, updated_at=T0 - timedelta(days=300))
    sparse = shop_row("new-but-sparse", package, country_name=None, updated_at=T0)

    plan = plan_dedupe([sparse, complete], {"p": package})

    assert completeness(complete) > completeness(sparse)
    assert [r.id for r in plan.kept] == ["old-but-complete"]


def test_among_equally_complete_rows_the_most_recent_is_kept():
    package = catalog_package("p")
    rows = [shop_row(f"r{i}", package, updated_at=T0 + timedelta(minutes=i)) for i in (3, 1, 2)]

    plan = plan_dedupe(rows, {"p": package})

    assert [r.id for r in plan.kept] == ["r3"]


def test_rows_differing_in_throttling_days_or_price_are_different_offers():
    base = catalog_package("base", unlimited=True)
    throttled = catalog_package("thr", unlimited=True, throttled=True, throttle_speed_kbps=512)
    longer = catalog_package("long", unlimited=True, days=30)
    rows = [shop_row("base", base), shop_row("thr", throttled), shop_row("long", longer)]
    rows.append(shop_row("dear", catalog_package("dear", unlimited=True), sale_price="16.00"))
    catalog = {p.reseller_id: p for p in (base, throttled, longer, catalog_package("dear", unlimited=True))}

    assert plan_dedupe(rows, catalog).removals == ()


def test_a_row_whose_package_the_catalog_lacks_is_never_a_combination_duplicate():
    known = catalog_package("known")
    row_known = shop_row("known", known)
    row_unknown = shop_row("unknown", catalog_package("unknown"))  # same offer on paper

    assert offer_key(row_unknown, None) is None
    assert plan_dedupe([row_known, row_unknown], {"known": known}).removals == ()


EUROPE = (
    "AT", "BE", "BG", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GR", "HR",
    "HU", "IE", "IS", "IT", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI",
)  # fmt: skip


def test_a_regional_plan_is_never_the_same_offer_as_a_single_country_plan():
    sweden = catalog_package("sweden-5gb")
    europe = catalog_package("europe-5gb", country="SE", coverage=EUROPE)  # listed under Sweden
    rows = [shop_row("sweden", sweden), shop_row("europe", europe)]
    assert rows[0].model_dump(exclude={"id", "reseller_id", "name"}) == rows[1].model_dump(
        exclude={"id", "reseller_id", "name"}
    )

    assert offer_key(rows[0], sweden) != offer_key(rows[1], europe)
    assert plan_dedupe(rows, {"sweden-5gb": sweden, "europe-5gb": europe}).removals == ()


def test_rows_over_packages_with_the_same_coverage_and_offer_are_duplicates_whatever_its_order():
    first = catalog_package("europe-a", country="SE", coverage=EUROPE)
    second = catalog_package("europe-b", country="SE", coverage=[c.lower() for c in reversed(EUROPE)])
    older = shop_row("older", first)
    newer = shop_row("newer", second, updated_at=T0)

    plan = plan_dedupe([older, newer], {"europe-a": first, "europe-b": second})

    assert offer_key(older, first) == offer_key(newer, second)
    assert [(r.row.id, r.kind, r.kept_id) for r in plan.removals] == [
        ("older", DuplicateKind.COMBINATION, "newer")
    ]


def test_rows_whose_package_the_catalog_lacks_are_only_ever_reseller_id_duplicates():
    # no coverage to compare: two such rows making the same offer on paper both stay...
    lost_a, lost_b = catalog_package("lost-a"), catalog_package("lost-b")
    rows = [shop_row("a", lost_a), shop_row("b", lost_b)]
    # ...but a second row on the same package id is still a duplicate
    rows.append(shop_row("a-again", lost_a, updated_at=T0))

    plan = plan_dedupe(rows, {})

    assert [(r.row.id, r.kind, r.kept_id) for r in plan.removals] == [
        ("a", DuplicateKind.RESELLER_ID, "a-again")
    ]
    assert {r.id for r in plan.kept} == {"a-again", "b"}


# ---- property: nothing lost, nothing left duplicated ----------------------------------------------

CATALOG = [
    catalog_package(
        f"p{i}",
        country=country,
        coverage=coverage,
        data_mb=data,
        unlimited=unlimited,
        sms=sms,
        throttled=unlimited and sms,
        throttle_speed_kbps=512 if unlimited and sms else None,
    )
    for i, (country, coverage, data, unlimited, sms) in enumerate(
        (c, r, d, u, s)
        for c in ("SE", "NO")
        for r in (None, ("DK", "NO", "SE"))  # the country alone, or a Nordic plan listed under it
        for d in (1 * GB, 5 * GB)
        for u in (False, True)
        for s in (False, True)
    )
]


@st.composite
def shop_tables(draw: st.DrawFn) -> tuple[list[MyPackage], dict[str, Package]]:
    catalog = {p.reseller_id: p for p in CATALOG if draw(st.booleans())}
    count = draw(st.integers(0, 25))
    rows = []
    for i in range(count):
        package = draw(st.sampled_from(CATALOG))
        rows.append(
            shop_row(
                f"row{i:02}",
                package if draw(st.integers(0, 9)) else None,
                sale_price=draw(st.sampled_from(["9.00", "15.00", "15.0"]) | st.none()),
                validity_days=draw(st.sampled_from([7, 30])),
                country_name=draw(st.none() | st.just("Somewhere")),
                updated_at=T0 + timedelta(minutes=draw(st.integers(0, 3))),
            )
        )
    return rows, catalog


@settings(max_examples=150, deadline=None)
@given(shop_tables())
def test_after_dedupe_no_two_rows_share_a_reseller_id_or_an_offer_and_nothing_is_lost(table):
    rows, catalog = table

    plan = plan_dedupe(rows, catalog)

    kept_ids = [r.id for r in plan.kept]
    removed_ids = [r.row.id for r in plan.removals]
    assert sorted(kept_ids + removed_ids) == sorted(r.id for r in rows)  # removed + kept = original, disjoint
    assert {r.row for r in plan.removals} | set(plan.kept) == set(rows)
    reseller_ids = [r.reseller_id for r in plan.kept if r.reseller_id]
    assert len(reseller_ids) == len(set(reseller_ids))
    keys = [k for r in plan.kept if (k := offer_key(r, catalog.get(r.reseller_id or ""))) is not None]
    assert len(keys) == len(set(keys))
    assert all(r.kept_id in kept_ids for r in plan.removals)


def test_sale_prices_written_differently_are_one_price():
    package = catalog_package("p")
    assert offer_key(shop_row("x", package, sale_price="15.0"), package) == offer_key(
        shop_row("y", package, sale_price="15.00"), package
    )
