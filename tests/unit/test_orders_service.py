"""Order placement with fakes (no sockets): the fake Roamify's order log is the witness."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamsync.domain.equivalence import is_equivalent_or_better
from roamsync.domain.errors import (
    BadRequest,
    NotFound,
    RateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.orders import (
    AttemptOutcome,
    FailureReason,
    IdempotencyKeyReused,
    InvalidTransition,
    Order,
    OrderRequest,
    OrderStatus,
    choose_fallback,
    order_id_for,
)
from roamsync.domain.packages import Package
from roamsync.services.orders import (
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    OrderPolicy,
    get_order,
    place_order,
)
from tests.fakes.orders import fails, world
from tests.fakes.packages import GB
from tests.fakes.packages import make_package as package

TOLERANCE = Decimal("0.10")

ORIGINAL = package("esim-sweden-30days-10gb-all", price=Decimal("10.00"))
# Equivalent or better for Sweden, and the cheapest such.
BETTER = package("esim-sweden-30days-20gb-all", data_mb=20 * GB, price=Decimal("10.50"))
PRICIER = package("esim-sweden-30days-50gb-all", data_mb=50 * GB, price=Decimal("10.90"))
# Worse: less data, or too expensive.
SMALLER = package("esim-sweden-30days-3gb-all", data_mb=3 * GB, price=Decimal("5.00"))
TOO_DEAR = package("esim-sweden-30days-100gb-all", data_mb=100 * GB, price=Decimal("19.00"))


def request(package_id: str = ORIGINAL.reseller_id, quantity: int = 1) -> OrderRequest:
    return OrderRequest(package_id=package_id, quantity=quantity)


def upstream_order(
    order_id: str, reference_id: str, package_id: str = ORIGINAL.reseller_id
) -> dict[str, Any]:
    """An order as Roamify holds it: one eSIM of `package_id`, COMPLETED, within any bound."""
    return {
        "id": order_id,
        "referenceId": reference_id,
        "status": "COMPLETED",
        "total": 0,
        "items": [{"packageId": package_id}],
    }


# --- the happy path and idempotency --------------------------------------------------------------


def test_an_order_for_a_live_package_is_placed_once_under_attempt_one() -> None:
    w = world([ORIGINAL, BETTER])

    placement = place_order("key-1", request(quantity=2), w.ports(), w.policy)

    order = placement.order
    assert order.status is OrderStatus.PLACED
    assert not placement.replayed
    assert w.roamify.created_for() == [ORIGINAL.reseller_id]
    assert order.roamify_order_id == w.roamify.orders[0]["id"]
    assert order.reference_id == f"{order_id_for('key-1')}-a1" == w.roamify.orders[0]["referenceId"]
    assert len(w.roamify.orders[0]["items"]) == 2
    assert not order.fallback_used
    assert w.store.items[order.order_id].status is OrderStatus.PLACED


def test_the_same_key_again_returns_the_same_order_and_places_nothing() -> None:
    w = world([ORIGINAL])
    first = place_order("key-1", request(), w.ports(), w.policy)

    again = place_order("key-1", request(), w.ports(), w.policy)

    assert again.replayed
    assert again.order.summary() == first.order.summary()
    assert len(w.roamify.orders) == 1


def test_the_same_key_with_another_body_is_refused_and_places_nothing() -> None:
    w = world([ORIGINAL, BETTER])
    place_order("key-1", request(), w.ports(), w.policy)

    with pytest.raises(IdempotencyKeyReused):
        place_order("key-1", request(quantity=3), w.ports(), w.policy)
    with pytest.raises(IdempotencyKeyReused):
        place_order("key-1", request(BETTER.reseller_id), w.ports(), w.policy)
    assert len(w.roamify.orders) == 1


def test_a_second_request_arriving_while_the_first_works_waits_for_its_outcome() -> None:
    # given the first request's record, still PENDING, which its worker settles a moment later
    w = world([ORIGINAL])
    pending = Order.new(
        "key-1", request(), reseller_id=ORIGINAL.reseller_id, destination="SE", now=w.time.now()
    )
    w.store.create(pending)
    reads = 0

    def first_worker_finishes(order_id: str) -> None:
        nonlocal reads
        reads += 1
        if reads == 3:  # the first worker places the order between the second one's polls
            current = w.store.items[order_id]
            started = current.start_attempt(ORIGINAL.reseller_id, w.time.now())
            placed = started.settle_attempt(AttemptOutcome.PLACED, w.time.now(), roamify_order_id="ord_x")
            w.store.items[order_id] = placed.placed("ord_x", w.time.now()).model_copy(update={"version": 2})

    w.store.before_get = first_worker_finishes

    # when the same key arrives again
    placement = place_order("key-1", request(), w.ports(), w.policy)

    # then it answers the first request's order and sends nothing itself
    assert placement.replayed
    assert placement.order.status is OrderStatus.PLACED
    assert placement.order.roamify_order_id == "ord_x"
    assert w.roamify.calls == []


def test_two_threads_with_one_key_place_one_order() -> None:
    w = world([ORIGINAL])
    barrier = threading.Barrier(2)
    results = []

    def post() -> None:
        barrier.wait()
        results.append(place_order("key-1", request(), w.ports(), w.policy))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)

    assert len(w.roamify.orders) == 1
    assert {r.order.order_id for r in results} == {order_id_for("key-1")}


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("req", "error"),
    [
        (OrderRequest(package_id="esim-nowhere", quantity=1), NotFound),
        (OrderRequest(my_package_id="no-such-row", quantity=1), NotFound),
        (OrderRequest(quantity=1), BadRequest),
        (OrderRequest(package_id=ORIGINAL.reseller_id, my_package_id="m1", quantity=1), BadRequest),
        (OrderRequest(package_id=ORIGINAL.reseller_id, quantity=0), BadRequest),
        (OrderRequest(package_id=ORIGINAL.reseller_id, quantity=11), BadRequest),
    ],
)
def test_bad_input_writes_nothing_and_sends_nothing(req: OrderRequest, error: type[Exception]) -> None:
    w = world([ORIGINAL])

    with pytest.raises(error):
        place_order("key-1", req, w.ports(), w.policy)

    assert w.store.items == {}
    assert w.roamify.calls == []


# --- a 500 is not a "no" ----------------------------------------------------------------------------


def test_a_500_after_the_order_was_created_is_found_by_its_reference_and_not_reordered() -> None:
    w = world([ORIGINAL, BETTER])
    w.roamify.creates = [fails(UpstreamUnavailable("boom", status=500), after_commit=True)]

    order = place_order("key-1", request(), w.ports(), w.policy).order

    assert order.status is OrderStatus.PLACED
    assert not order.fallback_used
    assert w.roamify.created_for() == [ORIGINAL.reseller_id]
    assert [a.outcome for a in order.attempts] == [AttemptOutcome.FOUND]
    assert w.roamify.calls[1] == ("find", order.attempts[0].reference_id)


def test_a_timeout_after_the_order_was_created_is_found_and_not_reordered() -> None:
    w = world([ORIGINAL, BETTER])
    w.roamify.creates = [fails(UpstreamTimeout("slow"), after_commit=True)]

    order = place_order("key-1", request(), w.ports(), w.policy).order

    assert order.status is OrderStatus.PLACED
    assert w.roamify.created_for() == [ORIGINAL.reseller_id]
    assert order.attempts[0].error == "timeout"


def test_a_500_that_created_nothing_for_a_live_package_retries_it_under_a_new_reference() -> None:
    w = world([ORIGINAL, BETTER])
    w.roamify.creates = [fails(UpstreamUnavailable("boom", status=500, answered=True), after_commit=False)]

    order = place_order("key-1", request(), w.ports(), w.policy).order

    assert order.status is OrderStatus.PLACED
    assert w.roamify.created_for() == [ORIGINAL.reseller_id]
    assert [a.outcome for a in order.attempts] == [AttemptOutcome.NOT_PLACED, AttemptOutcome.PLACED]
    assert order.attempts[0].reference_id != order.attempts[1].reference_id
    assert not order.fallback_used


def test_a_stale_package_falls_back_to_the_cheapest_equivalent_or_better_one() -> None:
    # given the catalog still lists the original, but Roamify no longer does
    w = world(
        [ORIGINAL, BETTER, PRICIER, SMALLER, TOO_DEAR], listed={BETTER.reseller_id, PRICIER.reseller_id}
    )

    order = place_order("key-1", request(), w.ports(), w.policy).order

    assert order.status is OrderStatus.PLACED
    assert order.fallback_used
    assert order.original_package_id == ORIGINAL.reseller_id
    assert order.package_id == BETTER.reseller_id
    assert w.roamify.created_for() == [BETTER.reseller_id]
    assert [a.outcome for a in order.attempts] == [AttemptOutcome.NOT_PLACED, AttemptOutcome.PLACED]
    assert order.attempts[1].reference_id.endswith("-a2")


def test_a_package_known_inactive_goes_straight_to_the_fallback_without_a_doomed_call() -> None:
    w = world([ORIGINAL, BETTER])
    w.catalog.deactivate(ORIGINAL.reseller_id)

    order = place_order("key-1", request(), w.ports(), w.policy).order

    assert order.status is OrderStatus.PLACED
    assert order.package_id == BETTER.reseller_id
    assert [c for c in w.roamify.calls if c[0] == "create"] == [("create", BETTER.reseller_id)]
    assert [a.attempt for a in order.attempts] == [1]


def test_a_fallback_that_is_gone_too_moves_on_to_the_next_equivalent_one() -> None:
    w = world([ORIGINAL, BETTER, PRICIER], listed={PRICIER.reseller_id})

    order = place_order("key-1", request(), w.ports(), w.policy).order

    assert order.package_id == PRICIER.reseller_id
    assert w.roamify.created_for() == [PRICIER.reseller_id]
    # the gone stand-in was found gone by its live listing: no doomed create for it
    assert [a.package_id for a in order.attempts] == [ORIGINAL.reseller_id, PRICIER.reseller_id]


def test_no_equivalent_package_fails_with_ranked_alternatives_and_orders_nothing() -> None:
    w = world([ORIGINAL, SMALLER, TOO_DEAR], listed={SMALLER.reseller_id, TOO_DEAR.reseller_id})

    order = place_order("key-1", request(), w.ports(), w.policy).order

    assert order.status is OrderStatus.FAILED
    assert order.failure is not None and order.failure.reason is FailureReason.NO_EQUIVALENT
    assert w.roamify.orders == []
    assert [a["packageId"] for a in order.alternatives] == [SMALLER.reseller_id, TOO_DEAR.reseller_id]
    assert all(a["downgrade"] for a in order.alternatives)


def test_a_destination_known_from_the_shop_row_rules_the_fallback() -> None:
    # given a regional original bought for Norway, and candidates covering Norway or not
    regional = package("esim-europe-30days-10gb-all", country_code="EU", coverage=("NO", "SE"))
    norway = package("esim-norway-30days-10gb-all", country_code="NO", coverage=("NO",), price=Decimal("9"))
    sweden = package("esim-sweden-30days-10gb-x", coverage=("SE",), price=Decimal("8"))
    row = MyPackage(id="m1", reseller_id=regional.reseller_id, name="Norway 10GB", country_code="NO")
    w = world([regional, norway, sweden], listed={norway.reseller_id, sweden.reseller_id}, my_packages=[row])

    order = place_order("key-1", OrderRequest(my_package_id="m1", quantity=1), w.ports(), w.policy).order

    assert order.package_id == norway.reseller_id
    assert order.destination == "NO"


def test_a_multi_country_package_bought_as_is_needs_a_fallback_covering_every_country() -> None:
    regional = package("esim-europe-30days-10gb-all", country_code="EU", coverage=("NO", "SE"))
    norway_only = package(
        "esim-norway-30days-10gb-all", country_code="EU", coverage=("NO",), price=Decimal("9")
    )
    both = package(
        "esim-nordics-30days-10gb-all", country_code="EU", coverage=("NO", "SE"), price=Decimal("10.5")
    )
    w = world([regional, norway_only, both], listed={norway_only.reseller_id, both.reseller_id})

    order = place_order("key-1", request(regional.reseller_id), w.ports(), w.policy).order

    assert order.package_id == both.reseller_id


EUROPE = ("AT", "BE", "DE", "DK", "FR", "SE")
AFRICA = ("EG", "GH", "KE", "MA", "NG", "TZ", "ZA")


def test_a_regional_package_ordered_by_id_never_falls_back_to_a_one_country_package() -> None:
    # given an inactive Europe plan listed under Denmark, and a cheaper, bigger Denmark-only plan
    europe = package(
        "esim-europe-30days-10gb-all",
        country_code="DK",
        country_name="Denmark",
        geography="regional",
        coverage=EUROPE,
        status="inactive",
    )
    denmark = package(
        "esim-denmark-30days-20gb-all",
        country_code="DK",
        coverage=("DK",),
        data_mb=20 * GB,
        price=Decimal("8"),
    )
    w = world([europe, denmark], listed={denmark.reseller_id})

    # when the Europe plan is ordered by its packageId
    order = place_order("key-1", request(europe.reseller_id), w.ports(), w.policy).order

    # then nothing is ordered: Denmark alone is a downgrade for a customer going anywhere in Europe
    assert w.roamify.orders == []
    assert order.status is OrderStatus.FAILED
    assert order.failure is not None and order.failure.reason is FailureReason.NO_EQUIVALENT
    assert order.destination is None
    assert all(not a["equivalentOrBetter"] for a in order.alternatives)


def test_a_regional_package_ordered_by_id_falls_back_to_one_covering_all_its_countries() -> None:
    europe = package(
        "esim-europe-30days-10gb-all",
        country_code="DK",
        geography="regional",
        coverage=EUROPE,
        status="inactive",
    )
    denmark = package("esim-denmark-30days-20gb-all", country_code="DK", coverage=("DK",), price=Decimal("8"))
    wider = package(
        "esim-europe-30days-20gb-all",
        country_code="DE",
        geography="regional",
        coverage=(*EUROPE, "NO"),
        data_mb=20 * GB,
        price=Decimal("10.50"),
    )
    w = world([europe, denmark, wider])

    order = place_order("key-1", request(europe.reseller_id), w.ports(), w.policy).order

    assert w.roamify.created_for() == [wider.reseller_id]
    assert order.fallback_used


def test_a_regional_row_whose_country_the_package_does_not_cover_never_falls_back_to_that_country() -> None:
    # given a shop row for the regional "Africa Adventure" plan stored with code AF (Africa), and an
    # Afghanistan (AF) plan that is bigger and no dearer
    africa = package(
        "esim-africa-adventure-30days-10gb-all",
        country_code="AF",
        country_name="Africa Adventure",
        region="Africa",
        geography="regional",
        coverage=AFRICA,
        status="inactive",
    )
    afghanistan = package(
        "esim-afghanistan-30days-20gb-all",
        country_code="AF",
        country_name="Afghanistan",
        region="Asia",
        coverage=("AF",),
        data_mb=20 * GB,
    )
    row = MyPackage(
        id="mp-1",
        reseller_id=africa.reseller_id,
        name="Africa 10GB",
        country_code="AF",
        region="Africa",
        sale_price=Decimal("15"),
    )
    w = world([africa, afghanistan], listed={afghanistan.reseller_id}, my_packages=[row])

    # when the row is ordered
    order = place_order("key-1", OrderRequest(my_package_id="mp-1", quantity=1), w.ports(), w.policy).order

    # then no Afghanistan eSIM is bought for an Africa trip: nothing covering all of Africa exists
    assert w.roamify.orders == []
    assert order.failure is not None and order.failure.reason is FailureReason.NO_EQUIVALENT
    assert afghanistan.reseller_id not in [a["packageId"] for a in order.alternatives]


# --- only Roamify's own 500 says "nothing was created" -------------------------------------------------

# Failures that say nothing about whether the request is still at work upstream.
IN_DOUBT = {
    "gateway timeout": UpstreamUnavailable(
        "Roamify POST /api/esim/order -> 504: Gateway Timeout", status=504
    ),
    "bad gateway": UpstreamUnavailable("-> 502: Bad Gateway", status=502),
    "service unavailable": UpstreamUnavailable("-> 503: Service Unavailable", status=503),
    "500 without Roamify's body": UpstreamUnavailable("-> 500: <html>", status=500, answered=False),
    "2xx that is not JSON": UpstreamUnavailable("answered non-JSON", status=200),
    "2xx without data.id": UpstreamUnavailable("Roamify order response has no data.id"),
}


@pytest.mark.parametrize("error", IN_DOUBT.values(), ids=IN_DOUBT.keys())
def test_a_failure_that_is_not_roamifys_own_answer_is_never_followed_by_another_attempt(
    error: UpstreamUnavailable,
) -> None:
    # given a create whose order commits late: the lookup right after the failure still misses it
    w = world([ORIGINAL, BETTER])
    w.roamify.creates = [fails(error, after_commit=True, missed_by_lookups=1)]

    # when it is ordered
    placement = place_order("key-1", request(), w.ports(), w.policy)

    # then no second attempt goes out: the lookups, spaced, find the one upstream order
    assert placement.order.status is OrderStatus.PLACED
    assert placement.order.roamify_order_id == w.roamify.orders[0]["id"]
    assert w.roamify.creates_sent() == 1
    assert len(w.roamify.orders) == 1
    assert [a.outcome for a in placement.order.attempts] == [AttemptOutcome.FOUND]


@pytest.mark.parametrize("error", IN_DOUBT.values(), ids=IN_DOUBT.keys())
def test_not_found_after_a_failure_in_doubt_is_trusted_only_after_the_grace_period(
    error: UpstreamUnavailable,
) -> None:
    w = world([ORIGINAL])
    w.roamify.creates = [fails(error, after_commit=False)]

    order = place_order("key-1", request(), w.ports(), w.policy).order
    assert order.status is OrderStatus.UNKNOWN
    assert get_order(order.order_id, w.ports(), w.policy).status is OrderStatus.UNKNOWN

    w.time.advance(w.policy.unknown_grace + 1)
    settled = get_order(order.order_id, w.ports(), w.policy)

    assert settled.status is OrderStatus.FAILED
    assert settled.failure is not None and settled.failure.retryable
    assert w.roamify.orders == []
    assert w.roamify.creates_sent() == 1


def test_a_gateway_504_then_a_commit_in_flight_gives_exactly_one_order() -> None:
    # given a proxy that answers 504 while Roamify is still creating the order, which appears only
    # after the first lookup (the reviewer's reproduction)
    w = world([ORIGINAL])
    w.roamify.creates = [
        fails(
            UpstreamUnavailable("-> 504: Gateway Timeout", status=504), after_commit=True, missed_by_lookups=1
        )
    ]

    # when it is ordered, and the same key is sent again
    first = place_order("key-1", request(), w.ports(), w.policy)
    again = place_order("key-1", request(), w.ports(), w.policy)

    # then there is exactly one upstream order, found by the spaced lookups, and the replay answers it
    assert first.order.status is OrderStatus.PLACED
    assert again.replayed
    assert again.order.status is OrderStatus.PLACED
    assert again.order.roamify_order_id == w.roamify.orders[0]["id"]
    assert len(w.roamify.orders) == 1


def test_an_earlier_attempt_that_commits_late_is_found_before_the_next_attempt_goes_out() -> None:
    # given Roamify's own 500 for the original, whose order nevertheless commits, late
    w = world([ORIGINAL, BETTER])
    w.roamify.creates = [
        fails(
            UpstreamUnavailable("Unknown error", status=500, answered=True),
            after_commit=True,
            missed_by_lookups=1,
        )
    ]

    # when it is ordered
    order = place_order("key-1", request(), w.ports(), w.policy).order

    # then the look-again before attempt 2 finds attempt 1's order: one order, no second attempt
    assert order.status is OrderStatus.PLACED
    assert w.roamify.creates_sent() == 1
    assert len(w.roamify.orders) == 1
    assert order.roamify_order_id == w.roamify.orders[0]["id"]
    assert order.package_id == ORIGINAL.reseller_id and not order.fallback_used
    assert order.reference_id == w.roamify.orders[0]["referenceId"]
    assert [a.outcome for a in order.attempts] == [AttemptOutcome.FOUND]


def test_an_earlier_attempt_that_cannot_be_looked_up_again_stops_the_request() -> None:
    # given a stale original (Roamify's own 500, nothing created), and then lookups failing
    w = world([ORIGINAL, BETTER], listed={BETTER.reseller_id})
    answer = w.roamify.find_order
    lookups = 0

    def find(
        *, reference_id: str | None = None, order_id: str | None = None, remaining: Any = None
    ) -> dict[str, Any] | None:
        nonlocal lookups
        lookups += 1
        if lookups >= 2:  # the lookup right after the 500 answers; every look-again before attempt 2 fails
            raise UpstreamTimeout("slow")
        return answer(reference_id=reference_id, order_id=order_id)

    w.roamify.find_order = find  # type: ignore[method-assign]

    # when it is ordered
    order = place_order("key-1", request(), w.ports(), w.policy).order

    # then no fallback is sent while attempt 1 cannot be vouched for
    assert order.status is OrderStatus.UNKNOWN
    assert w.roamify.creates_sent() == 1
    assert w.roamify.orders == []


def test_a_redrive_finds_an_earlier_attempts_late_order_and_places_nothing_more() -> None:
    # given an order whose attempt 1 timed out and was settled "not placed" after the grace period
    w = world([ORIGINAL])
    w.roamify.creates = [fails(UpstreamTimeout("slow"), after_commit=False)]
    order = place_order("key-1", request(), w.ports(), w.policy).order
    w.time.advance(w.policy.unknown_grace + 1)
    assert get_order(order.order_id, w.ports(), w.policy).status is OrderStatus.FAILED
    # and attempt 1's order then turns up after all
    w.roamify.orders.append(upstream_order("ord_late", order.attempts[0].reference_id))

    # when the client sends the same key again
    again = place_order("key-1", request(), w.ports(), w.policy)

    # then the order is placed by attempt 1, and nothing more is created
    assert again.order.status is OrderStatus.PLACED
    assert again.order.roamify_order_id == "ord_late"
    assert w.roamify.creates_sent() == 1
    assert [o["id"] for o in w.roamify.orders] == ["ord_late"]


def test_reconciling_looks_up_every_attempt_not_only_the_open_one() -> None:
    # given an UNKNOWN order whose attempt 2 is in doubt, and attempt 1's order committed late
    w = world([ORIGINAL])
    order = Order.new(
        "key-1", request(), reseller_id=ORIGINAL.reseller_id, destination="SE", now=w.time.now()
    )
    order = w.store.create(order)
    order = order.start_attempt(ORIGINAL.reseller_id, w.time.now())
    order = order.settle_attempt(AttemptOutcome.NOT_PLACED, w.time.now(), error="http_500", answered=True)
    order = order.start_attempt(ORIGINAL.reseller_id, w.time.now())
    order = order.settle_attempt(AttemptOutcome.UNKNOWN, w.time.now(), error="timeout")
    order = w.store.save(order.unknown(w.time.now()), order.version)
    w.roamify.orders.append(upstream_order("ord_a1", order.attempts[0].reference_id))

    read = get_order(order.order_id, w.ports(), w.policy)

    assert read.status is OrderStatus.PLACED
    assert read.roamify_order_id == "ord_a1"
    assert read.reference_id == order.attempts[0].reference_id
    assert w.roamify.creates_sent() == 0


# --- unknown outcomes and reconciliation ---------------------------------------------------------------


def test_a_lookup_that_fails_leaves_the_order_unknown_and_a_later_read_reconciles_it() -> None:
    w = world([ORIGINAL, BETTER])
    w.roamify.creates = [fails(UpstreamUnavailable("boom", status=500), after_commit=True)]
    # every lookup fails for as long as the request has
    w.roamify.lookup_errors = [UpstreamUnavailable("down", status=503)] * 1000

    placement = place_order("key-1", request(), w.ports(), w.policy)

    assert placement.order.status is OrderStatus.UNKNOWN
    assert placement.order.attempts[0].outcome is AttemptOutcome.UNKNOWN
    assert len(w.roamify.orders) == 1
    w.roamify.lookup_errors.clear()
    w.time.advance(w.breaker.cooldown_seconds)  # the failing lookups opened the breaker

    read = get_order(placement.order.order_id, w.ports(), w.policy)

    assert read.status is OrderStatus.PLACED
    assert read.roamify_order_id == w.roamify.orders[0]["id"]
    assert len(w.roamify.orders) == 1
    assert w.store.items[read.order_id].status is OrderStatus.PLACED


def test_after_a_timeout_not_found_is_not_trusted_until_the_grace_period_has_passed() -> None:
    w = world([ORIGINAL])
    w.roamify.creates = [fails(UpstreamTimeout("slow"), after_commit=False)]

    order = place_order("key-1", request(), w.ports(), w.policy).order
    assert order.status is OrderStatus.UNKNOWN

    assert get_order(order.order_id, w.ports(), w.policy).status is OrderStatus.UNKNOWN
    w.time.advance(w.policy.unknown_grace + 1)
    settled = get_order(order.order_id, w.ports(), w.policy)

    assert settled.status is OrderStatus.FAILED
    assert settled.failure is not None and settled.failure.retryable
    assert w.roamify.orders == []


def test_a_retryable_failure_is_redriven_by_the_same_key_without_a_second_order() -> None:
    # given an order that failed with nothing ordered because Roamify refused with 429
    w = world([ORIGINAL])
    w.roamify.creates = [fails(RateLimited("slow down", retry_after=7), after_commit=False)]
    first = place_order("key-1", request(), w.ports(), w.policy)
    assert first.order.status is OrderStatus.FAILED
    assert first.retry_after_seconds == 7

    # when the client sends the same key again
    again = place_order("key-1", request(), w.ports(), w.policy)

    # then this request places it, under attempt 2
    assert again.order.status is OrderStatus.PLACED
    assert not again.replayed
    assert w.roamify.created_for() == [ORIGINAL.reseller_id]
    assert w.roamify.orders[0]["referenceId"].endswith("-a2")


def test_a_request_rejected_as_malformed_fails_for_good() -> None:
    w = world([ORIGINAL])
    w.roamify.creates = [fails(UpstreamRejected("bad", status=400), after_commit=False)]

    order = place_order("key-1", request(), w.ports(), w.policy).order
    again = place_order("key-1", request(), w.ports(), w.policy)

    assert order.failure is not None and order.failure.reason is FailureReason.REJECTED
    assert not order.failure.retryable
    assert again.replayed and again.order.status is OrderStatus.FAILED
    assert w.roamify.orders == []


def test_a_dead_workers_pending_order_is_reconciled_after_its_lease() -> None:
    w = world([ORIGINAL])
    # given a worker that sent attempt 1 (which created the order) and then died
    started = Order.new(
        "key-1", request(), reseller_id=ORIGINAL.reseller_id, destination="SE", now=w.time.now()
    )
    started = w.store.create(started)
    started = w.store.save(started.start_attempt(ORIGINAL.reseller_id, w.time.now()), started.version)
    w.roamify.orders.append(upstream_order("ord_dead", str(started.reference_id)))
    w.time.advance(120)

    order = get_order(started.order_id, w.ports(), w.policy)

    assert order.status is OrderStatus.PLACED
    assert order.roamify_order_id == "ord_dead"


# --- time ------------------------------------------------------------------------------------------


def test_the_create_call_timeout_is_bounded_by_the_time_left() -> None:
    w = world([ORIGINAL])
    policy = OrderPolicy(connect_timeout=0.5, create_timeout=8.0, lookup_reserve=3.0, margin=0.5)

    place_order("key-1", request(), w.ports(budget=6.0), policy)

    connect, read = w.roamify.timeouts[0] or (0, 0)
    assert connect == 0.5
    assert read <= 6.0 - 0.5 - 3.0 - 0.5


def test_without_time_for_a_create_and_its_lookup_nothing_is_sent() -> None:
    w = world([ORIGINAL])

    placement = place_order("key-1", request(), w.ports(budget=2.0), w.policy)

    assert placement.order.status is OrderStatus.FAILED
    assert placement.order.failure is not None and placement.order.failure.retryable
    assert w.roamify.calls == []


# --- the circuit breaker -----------------------------------------------------------------------------


def test_roamify_down_opens_the_breaker_and_then_orders_fail_fast_without_a_record() -> None:
    w = world([ORIGINAL], failure_threshold=3)
    w.roamify.listed.clear()  # every create answers 500 …
    w.roamify.lookup_errors = [UpstreamUnavailable("down", status=503)] * 10  # … and lookups fail

    first = place_order("key-1", request(), w.ports(), w.policy)
    calls_before = len(w.roamify.calls)

    # the lookups after the 500 fail until the breaker opens: the order is UNKNOWN, not resent
    assert first.order.status is OrderStatus.UNKNOWN
    assert w.breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as raised:
        place_order("key-2", request(), w.ports(), w.policy)
    assert 1 <= raised.value.retry_after_seconds <= 30
    assert order_id_for("key-2") not in w.store.items
    assert len(w.roamify.calls) == calls_before
    assert w.roamify.orders == []


def test_the_breaker_half_opens_after_its_cooldown_and_a_good_trial_closes_it() -> None:
    clock = [0.0]
    changes: list[str] = []
    breaker = CircuitBreaker(
        failure_threshold=2,
        cooldown_seconds=10,
        clock=lambda: clock[0],
        on_change=lambda old, new: changes.append(new.value),
    )

    def boom() -> None:
        raise UpstreamTimeout("slow")

    for _ in range(2):
        with pytest.raises(UpstreamTimeout):
            breaker.call(boom)
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after() == 10
    clock[0] = 9.5
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: "never")
    clock[0] = 10.0
    assert breaker.allows()
    assert breaker.call(lambda: "ok") == "ok"

    assert breaker.state is BreakerState.CLOSED
    assert changes == ["open", "half_open", "closed"]


def test_a_failed_trial_reopens_the_breaker_and_an_answered_4xx_is_not_a_failure() -> None:
    clock = [0.0]
    breaker = CircuitBreaker(
        failure_threshold=2, cooldown_seconds=5, clock=lambda: clock[0], on_change=lambda *_: None
    )

    def rejected() -> None:
        raise UpstreamRejected("bad", status=400)

    def down() -> None:
        raise UpstreamUnavailable("down", status=503)

    for _ in range(3):
        with pytest.raises(UpstreamRejected):
            breaker.call(rejected)
    assert breaker.state is BreakerState.CLOSED
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable):
            breaker.call(down)
    clock[0] = 6
    with pytest.raises(UpstreamUnavailable):
        breaker.call(down)

    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after() == 5


# --- the state machine --------------------------------------------------------------------------------


def test_an_order_that_may_have_been_placed_can_never_fail_or_start_another_attempt() -> None:
    w = world([ORIGINAL])
    order = Order.new("k", request(), reseller_id=ORIGINAL.reseller_id, destination="SE", now=w.time.now())
    doubtful = order.start_attempt(ORIGINAL.reseller_id, w.time.now()).settle_attempt(
        AttemptOutcome.UNKNOWN, w.time.now(), error="http_500"
    )

    with pytest.raises(InvalidTransition):
        doubtful.failed(FailureReason.UNAVAILABLE, "no", w.time.now(), retryable=True)
    with pytest.raises(InvalidTransition):
        doubtful.start_attempt(BETTER.reseller_id, w.time.now())
    placed = doubtful.settle_attempt(AttemptOutcome.FOUND, w.time.now(), roamify_order_id="o").placed(
        "o", w.time.now()
    )
    with pytest.raises(InvalidTransition):
        placed.unknown(w.time.now())


def test_the_order_id_is_the_same_for_the_same_key_everywhere() -> None:
    assert order_id_for("abc") == order_id_for("abc") != order_id_for("abd")
    assert uuid.UUID(order_id_for("abc")).version == 5


# --- property: the chosen fallback is equivalent or better, or there is none ------------------------------

COUNTRIES = ("SE", "NO", "DK")


@st.composite
def catalog_package(draw: st.DrawFn, index: int) -> Package:
    unlimited = draw(st.booleans())
    throttled = draw(st.booleans())
    coverage = tuple(sorted(draw(st.sets(st.sampled_from(COUNTRIES), min_size=1, max_size=3))))
    return package(
        f"p{index}",
        country_code=coverage[0],
        coverage=coverage,
        unlimited=unlimited,
        data_mb=None if unlimited else draw(st.sampled_from([1, 3, 5, 10, 20, 50])) * GB,
        validity_days=draw(st.sampled_from([7, 15, 30, 90])),
        price=Decimal(draw(st.integers(min_value=100, max_value=3000))) / 100,
        with_sms=draw(st.booleans()),
        with_call=draw(st.booleans()),
        with_hotspot=draw(st.booleans()),
        throttled=throttled,
        throttle_threshold_mb=draw(st.none() | st.sampled_from([512, 1024, 2048, 10240]))
        if throttled
        else None,
        throttle_speed_kbps=draw(st.none() | st.sampled_from([128, 512, 1000])) if throttled else None,
        status=draw(st.sampled_from(["active", "active", "inactive"])),
    )


@st.composite
def variant_of(draw: st.DrawFn, original: Package, index: int) -> Package:
    """A candidate near the original (a little better or a little worse on each count), so that
    equivalent-or-better candidates are common and the property is exercised both ways."""
    data_mb = original.data_mb
    if data_mb is not None:
        data_mb = int(data_mb * draw(st.sampled_from([0.5, 1, 1, 2])))
    coverage = tuple(sorted(set(original.coverage) | draw(st.sets(st.sampled_from(COUNTRIES), max_size=2))))
    if draw(st.integers(0, 5)) == 0:
        coverage = coverage[1:] or coverage
    return original.model_copy(
        update={
            "reseller_id": f"v{index}",
            "coverage": coverage,
            "data_mb": data_mb,
            "validity_days": original.validity_days + draw(st.sampled_from([-3, 0, 0, 7])),
            "price": (
                original.price * Decimal(draw(st.sampled_from(["0.8", "0.95", "1", "1.1", "1.11", "1.3"])))
            ),
            "with_sms": original.with_sms if draw(st.integers(0, 4)) else not original.with_sms,
            "with_hotspot": original.with_hotspot if draw(st.integers(0, 4)) else not original.with_hotspot,
            "status": draw(st.sampled_from(["active", "active", "active", "inactive"])),
        }
    ).with_hash()


@st.composite
def catalogs(draw: st.DrawFn) -> tuple[Package, list[Package], tuple[str, ...], set[str]]:
    original = draw(catalog_package(0))
    size = draw(st.integers(min_value=0, max_value=10))
    candidates = [
        draw(variant_of(original, i) if draw(st.booleans()) else catalog_package(i))
        for i in range(1, size + 1)
    ]
    destinations = tuple(
        draw(st.lists(st.sampled_from(original.coverage), min_size=1, max_size=2, unique=True))
    )
    gone = set(
        draw(st.sets(st.sampled_from([c.reseller_id for c in candidates]) if candidates else st.nothing()))
    )
    return original, candidates, destinations, gone


@settings(max_examples=200, deadline=None)
@given(catalogs())
def test_the_chosen_fallback_is_always_equivalent_or_better_or_there_is_none(
    case: tuple[Package, list[Package], tuple[str, ...], set[str]],
) -> None:
    original, candidates, destinations, gone = case

    chosen = choose_fallback(original, candidates, destinations, max_price_increase=TOLERANCE, exclude=gone)

    def qualifies(c: Package) -> bool:
        return c.reseller_id not in gone and all(
            is_equivalent_or_better(original, c, d, max_price_increase=TOLERANCE) for d in destinations
        )

    qualifying = [c for c in candidates if qualifies(c)]
    if chosen is None:
        assert qualifying == []
    else:
        assert qualifies(chosen)
        assert chosen.price == min(c.price for c in qualifying)
        assert chosen.reseller_id != original.reseller_id
