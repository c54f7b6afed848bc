"""Order placement against a hostile upstream, end to end: HTTP through the local gateway to the
Orders handler, moto's DynamoDB and the Roamify simulator over real HTTP (socket faults played on
the TCP connection). Witnesses: the simulator's order log grouped by order, the Orders item in
DynamoDB, and the status and body the client sees."""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from roamsync.container import Container, set_container
from roamsync_dev.simulator import SocketFault
from tests.fakes.orders import FakeCatalog
from tests.functional.test_alarm_metrics import alarm_on, emf
from tests.functional.test_orders import (
    TOLERANCE,
    Picks,
    Shop,
    fallback_for,
    order_body,
    picks_for,
    running_shop,
    shop_settings,
    upstream_catalog,
)

BUDGET = 10.0  # the shop's ORDER_TIME_BUDGET_SECONDS
VISIBILITY = 2.0  # ORDER_COMMIT_VISIBILITY_SECONDS: how long a commit may stay invisible to lookups
# What the gateway, moto and the handler add on top of the budget on a loaded machine.
SLACK = 1.5
ORDER_PATH = "/api/esim/order"


@pytest.fixture
def shop(aws: None, simulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    with running_shop(
        simulator, monkeypatch, full_catalog=True, order_commit_visibility_seconds=VISIBILITY
    ) as running:
        yield running


@pytest.fixture
def picks(shop: Shop) -> Picks:
    return picks_for(shop)


def orders_by_request(shop: Shop) -> Counter[str]:
    """Upstream orders per order request (referenceId is f"{orderId}-a{n}")."""
    return Counter(o["referenceId"].rsplit("-a", 1)[0] for o in shop.sim.orders)


def stored(shop: Shop, order_id: str) -> dict[str, Any]:
    [item] = [i for i in shop.order_records() if i["order_id"]["S"] == order_id]
    return dict(json.loads(item["record"]["S"]))


def timed_post(shop: Shop, body: Any, key: str = "key-1") -> tuple[Any, float]:
    started = time.monotonic()
    response = shop.post(body, key=key)
    return response, time.monotonic() - started


# --- 1. an answered 500 can still have committed ----------------------------------------------------


def test_an_answered_500_whose_order_shows_up_late_is_found_and_never_ordered_twice(
    shop: Shop, picks: Picks
) -> None:
    # given Roamify creating the order, answering its own 500, and lookups seeing it only 1 s later
    shop.sim.faults.error_after_commit_next = 1
    shop.sim.faults.late_visible_seconds = 1.0

    response, elapsed = timed_post(shop, order_body(picks.live))

    # then lookups spaced over that second find it: one order, placed, no second referenceId
    assert response.status_code == 201, response.text
    assert response.json["status"] == "PLACED"
    assert list(orders_by_request(shop).values()) == [1]
    assert shop.upstream_order_posts() == 1
    record = stored(shop, response.json["orderId"])
    assert record["status"] == "PLACED"
    assert [(a["outcome"], a["error"]) for a in record["attempts"]] == [("found_after_error", "http_500")]
    assert elapsed < BUDGET + SLACK


def test_an_answered_500_whose_order_stays_invisible_past_the_budget_is_unknown_not_resent(
    shop: Shop, picks: Picks
) -> None:
    # given a shop that lets a commit 20 s to show, more than its 10 s budget has, and a commit
    # that lookups see only after a minute
    set_container(Container(shop_settings(shop.sim.url, order_commit_visibility_seconds=20.0)))
    shop.sim.faults.error_after_commit_next = 1
    shop.sim.faults.late_visible_seconds = 60.0

    response, elapsed = timed_post(shop, order_body(picks.live))

    # then no second order goes out: the order is UNKNOWN, answered within the budget
    assert response.status_code == 202, response.text
    assert response.json["status"] == "UNKNOWN"
    assert list(orders_by_request(shop).values()) == [1]
    assert shop.upstream_order_posts() == 1
    assert stored(shop, response.json["orderId"])["status"] == "UNKNOWN"
    assert elapsed < BUDGET + SLACK
    # and reading it back (still invisible) orders nothing either
    assert shop.get(response.json["orderId"]).json["status"] == "UNKNOWN"
    assert shop.upstream_order_posts() == 1


def test_a_package_confirmed_gone_takes_the_fallback_at_once(shop: Shop, picks: Picks) -> None:
    package = picks.with_fallback
    shop.sim.remove_packages([package.reseller_id])

    response, elapsed = timed_post(shop, order_body(package))

    assert response.status_code == 201, response.text
    assert response.json["fallbackUsed"] is True
    assert list(orders_by_request(shop).values()) == [1]
    # no wait for a late commit: Roamify's live listing said the package is gone
    assert elapsed < VISIBILITY


# --- 2. down means 503 -------------------------------------------------------------------------------


def test_roamify_answering_its_own_503_gets_a_503_at_once_and_the_same_key_later_works(
    shop: Shop, picks: Picks
) -> None:
    shop.sim.faults.outage = True  # every call, health too, answers Roamify's JSON 503

    response, elapsed = timed_post(shop, order_body(picks.live))

    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json["error"]["code"] == "upstream_unavailable"
    assert elapsed < 2.0
    assert shop.sim.orders == []

    shop.sim.faults.outage = False
    again = shop.post(order_body(picks.live))
    assert again.status_code == 201, again.text
    assert list(orders_by_request(shop).values()) == [1]
    assert stored(shop, again.json["orderId"])["status"] == "PLACED"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_connection_gets_a_503_at_once_with_nothing_ordered(shop: Shop, picks: Picks) -> None:
    # given Roamify's address refusing connections (the catalog was synced before)
    refused = Container(shop_settings(f"http://127.0.0.1:{_closed_port()}"))
    set_container(refused)

    response, elapsed = timed_post(shop, order_body(picks.live))

    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert elapsed < 2.0
    assert shop.sim.orders == []


def test_an_answer_cut_off_mid_body_is_in_doubt_and_the_late_order_is_found(shop: Shop, picks: Picks) -> None:
    # given Roamify creating the order but its answer cut off at the socket, visible 1 s later
    shop.sim.faults.late_visible_seconds = 1.0
    shop.sim.faults.socket_faults = [SocketFault(kind="cut", method="POST", path=ORDER_PATH)]

    response, elapsed = timed_post(shop, order_body(picks.with_fallback))

    assert response.status_code == 201, response.text
    assert response.json["fallbackUsed"] is False
    assert list(orders_by_request(shop).values()) == [1]
    assert shop.upstream_order_posts() == 1
    assert elapsed < BUDGET + SLACK


def test_a_reset_before_the_request_was_handled_is_in_doubt_not_resent(shop: Shop, picks: Picks) -> None:
    shop.sim.faults.socket_faults = [
        SocketFault(kind="reset", method="POST", path=ORDER_PATH, before_response=True)
    ]

    response, elapsed = timed_post(shop, order_body(picks.live))

    # a reset proves nothing (the request may have been carried out): UNKNOWN, not a second order
    assert response.status_code == 202, response.text
    assert response.json["status"] == "UNKNOWN"
    assert shop.sim.injected_counts["socket reset before response"] == 1
    assert shop.sim.orders == []  # the create was not sent again (it would have been carried out)
    assert elapsed < BUDGET + SLACK


# --- 3. every call bounded by the wall clock ----------------------------------------------------------


def test_an_upstream_dripping_every_order_answer_is_answered_within_the_budget(
    shop: Shop, picks: Picks
) -> None:
    # given every answer on the order path dripping in a byte every 50 ms (a 300-byte answer: 15 s)
    shop.sim.faults.socket_faults = [
        SocketFault(kind="drip", path=path, count=-1, drip_interval=0.05)
        for path in (ORDER_PATH, "/api/esim/orders", "/api/esim/packages")
    ]

    response, elapsed = timed_post(shop, order_body(picks.live))

    assert elapsed < BUDGET + SLACK, elapsed
    assert response.status_code in (202, 503), response.text
    if response.status_code == 503:
        assert int(response.headers["Retry-After"]) >= 1
    assert len(shop.sim.orders) <= 1


# --- 5. price and content checked live ------------------------------------------------------------------


def test_a_stand_in_whose_price_rose_past_the_bound_since_the_sync_is_not_ordered(
    shop: Shop, picks: Picks
) -> None:
    # given the original gone upstream, and its stand-in's price raised live above the bound
    original = picks.with_fallback
    catalog = FakeCatalog(upstream_catalog(shop.container, shop.sim).values())
    stand_in = fallback_for(catalog, original)
    assert stand_in is not None
    bound = original.price * (1 + TOLERANCE)
    shop.sim.remove_packages([original.reseller_id])
    shop.sim.change_prices([stand_in.reseller_id], delta=float(bound - stand_in.price) + 5)

    response = shop.post(order_body(original))

    # then the stand-in is not bought at its new price; whatever was bought is within the bound
    assert response.status_code in (201, 409), response.text
    assert all(o["items"][0]["packageId"] != stand_in.reseller_id for o in shop.sim.orders)
    assert all(Decimal(str(o["total"])) <= bound for o in shop.sim.orders)


def test_a_charged_total_above_the_bound_is_never_placed_silently(shop: Shop, picks: Picks) -> None:
    # given the package's price raised live by half since the sync
    package = picks.live
    shop.sim.change_prices([package.reseller_id], delta=float(package.price) / 2)

    response = shop.post(order_body(package))

    assert response.status_code == 202, response.text
    assert response.json["status"] == "NEEDS_REVIEW"
    assert list(orders_by_request(shop).values()) == [1]
    record = stored(shop, response.json["orderId"])
    assert record["status"] == "NEEDS_REVIEW"
    assert record["review"]


@pytest.mark.parametrize("fault", ["other_package", "fewer_items", "cancelled"])
def test_a_2xx_that_is_not_what_was_asked_is_needs_review_never_placed(
    shop: Shop, picks: Picks, fault: str
) -> None:
    shop.sim.faults.order_answer = fault  # type: ignore[assignment]
    shop.sim.faults.order_answer_next = 1

    response = shop.post(order_body(picks.live, quantity=2))

    assert response.status_code == 202, response.text
    assert response.json["status"] == "NEEDS_REVIEW"
    assert shop.upstream_order_posts() == 1
    assert list(orders_by_request(shop).values()) == [1]
    assert stored(shop, response.json["orderId"])["status"] == "NEEDS_REVIEW"
    read = shop.get(response.json["orderId"])
    assert read.json["status"] == "NEEDS_REVIEW"
    assert read.json["review"]


# --- 9. "not found" from what Roamify documents ---------------------------------------------------------


def test_an_undocumented_404_from_the_single_lookup_proves_nothing(shop: Shop, picks: Picks) -> None:
    # given a create answered 500 after committing, and the single lookup answering 404 regardless
    shop.sim.faults.error_after_commit_next = 1
    shop.sim.faults.lookup_404_next = 100

    response = shop.post(order_body(picks.live))

    # then the order list filtered by referenceId finds the order: one order, placed
    assert response.status_code == 201, response.text
    assert list(orders_by_request(shop).values()) == [1]
    assert shop.upstream_order_posts() == 1


def test_an_order_needing_review_publishes_the_metric_its_alarm_watches(
    shop: Shop, picks: Picks, capsys: pytest.CaptureFixture[str]
) -> None:
    shop.sim.faults.order_answer = "cancelled"
    shop.sim.faults.order_answer_next = 1
    capsys.readouterr()

    response = shop.post(order_body(picks.live))

    assert response.json["status"] == "NEEDS_REVIEW"
    namespace, dimensions, value = emf(capsys.readouterr().out)["OrdersNeedingReview"]
    assert (namespace, dimensions) == alarm_on("OrdersNeedingReview")
    assert value == 1
