"""Order placement end to end, in process: HTTP through the local gateway (authorizer included) to
the Orders handler, moto's DynamoDB and the Roamify simulator. The simulator's order log
(`sim.orders`) is the witness: it counts every order Roamify really created."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

import boto3
import pytest
from werkzeug.test import Client, TestResponse

from roamsync.adapters.roamify import RoamifyClient
from roamsync.container import Container, set_container, sync_catalog
from roamsync.domain.equivalence import RegionFallbacks, is_equivalent_or_better, rank_alternatives
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.orders import choose_fallback, order_id_for
from roamsync.domain.packages import NormalisedCatalog, Package, normalise_nodes
from roamsync.domain.runs import Trigger
from roamsync.services.catalog import candidate_packages, destination_of
from roamsync.settings import reset_settings
from roamsync_dev import lambda_runtime
from roamsync_dev.gateway import Gateway
from roamsync_dev.simulator import SocketFault
from tests.conftest import REGION, TABLE_NAMES, make_settings
from tests.fakes.orders import FakeCatalog

CLIENT_TOKEN = "client-secret-token"
ORDERS = "/api/orders"
ORDER_POST = ("POST", "/api/esim/order")
BREAKER_THRESHOLD = 3
TOLERANCE = Decimal("0.10")
SUMMARY_FIELDS = (
    "orderId",
    "status",
    "packageId",
    "originalPackageId",
    "fallbackUsed",
    "roamifyOrderId",
    "referenceId",
)


# The conftest simulator's catalog (200 packages, seed 7), normalised as a sync does it.
# The simulator's catalog normalised, fetched once per distinct simulator catalog (the fault matrix
# runs these shops on a smaller simulator than this module's).
_CATALOGS: dict[tuple[str, ...], dict[str, Package]] = {}


def sync(container: Container) -> None:
    outcome = sync_catalog(container, Trigger.CLI)
    assert outcome.run.status.value == "succeeded"


@dataclass
class Shop:
    """The system under test and its witnesses."""

    container: Container
    sim: Any
    gateway: Gateway

    def client(self) -> Client:
        return Client(self.gateway)

    def post(
        self, body: Any, key: str | None = "key-1", *, raw: str | None = None, client: Client | None = None
    ) -> TestResponse:
        headers = {"Authorization": f"Bearer {CLIENT_TOKEN}", "Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        data = raw if raw is not None else json.dumps(body)
        return (client or self.client()).post(ORDERS, headers=headers, data=data)

    def get(self, order_id: str) -> TestResponse:
        return self.client().get(f"{ORDERS}/{order_id}", headers={"Authorization": f"Bearer {CLIENT_TOKEN}"})

    def order_records(self) -> list[dict[str, Any]]:
        client = boto3.client("dynamodb", region_name=REGION)
        return client.scan(TableName=TABLE_NAMES["OrdersTable"])["Items"]

    def upstream_order_posts(self) -> int:
        return self.sim.request_counts[ORDER_POST]

    def catalog(self) -> dict[str, Package]:
        return self.container.packages.load_all()


def upstream_catalog(container: Container, simulator: Any) -> dict[str, Package]:
    """The seeded simulator's catalog, normalised: fetched once per simulator catalog."""
    key = tuple(simulator.package_ids())
    if key not in _CATALOGS:
        catalog = NormalisedCatalog()
        for page in container.roamify.iter_catalog_pages(50):
            normalise_nodes(page.nodes, catalog, page=page.number)
        _CATALOGS[key] = dict(catalog.packages)
    return _CATALOGS[key]


def shop_settings(roamify_url: str, **overrides: Any) -> Any:
    """The shop's settings: short timeouts (a timed-out create gives up after 0.5 s while the
    simulator hangs for 1 s), a 10 s order budget, `overrides` on top."""
    values: dict[str, Any] = {
        "roamify_connect_timeout_seconds": 0.5,
        "order_create_timeout_seconds": 0.5,
        "order_lookup_timeout_seconds": 0.5,
        "order_lookup_max_attempts": 2,
        "order_breaker_failure_threshold": BREAKER_THRESHOLD,
        "order_breaker_cooldown_seconds": 30,
        "order_time_budget_seconds": 10,
        "order_deadline_margin_seconds": 0.5,
        **overrides,
    }
    return make_settings(roamify_url, **values)


@contextmanager
def running_shop(
    simulator: Any, monkeypatch: pytest.MonkeyPatch, *, full_catalog: bool, **overrides: Any
) -> Iterator[Shop]:
    container = Container(shop_settings(simulator.url, **overrides))
    simulator.faults.timeout_seconds = 1.0
    # The authorizer reads the client token from the environment, as in AWS.
    monkeypatch.setenv("CLIENT_TOKEN", CLIENT_TOKEN)
    monkeypatch.setenv("ADMIN_TOKEN", "admin-secret-token")
    reset_settings()
    set_container(container)
    catalog = upstream_catalog(container, simulator)
    # What a sync writes; bad-input tests need only the one package they name.
    container.packages.write(catalog.values() if full_catalog else [pick_live(catalog)])
    simulator.reset_counts()
    gateway = Gateway(lambda_runtime.default_template())
    try:
        yield Shop(container, simulator, gateway)
    finally:
        gateway.close(timeout=5)
        set_container(None)
        reset_settings()


@pytest.fixture
def shop(aws: None, simulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    with running_shop(simulator, monkeypatch, full_catalog=True) as running:
        yield running


@pytest.fixture
def bare_shop(aws: None, simulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    with running_shop(simulator, monkeypatch, full_catalog=False) as running:
        yield running


# --- picking packages from the synced catalog with the same rules the service uses ------------------


def fallback_for(catalog: FakeCatalog, package: Package) -> Package | None:
    destination = destination_of(package, None)
    if destination is None:
        return None
    candidates = candidate_packages(package, destination, catalog)
    candidates += RegionFallbacks.default().fallback_candidates(package.region, catalog.get)
    return choose_fallback(package, candidates, (destination,), max_price_increase=TOLERANCE)


@dataclass(frozen=True)
class Picks:
    live: Package  # any active single-country package
    with_fallback: Package  # one whose removal has an equivalent-or-better replacement
    without_fallback: Package  # one with none, but with (downgrade) alternatives to offer


def local_packages(catalog: dict[str, Package]) -> list[Package]:
    return sorted(
        (p for p in catalog.values() if p.geography == "local" and p.status == "active"),
        key=lambda p: p.reseller_id,
    )


def pick_live(catalog: dict[str, Package]) -> Package:
    return local_packages(catalog)[0]


_PICKS: dict[tuple[str, ...], Picks] = {}


@pytest.fixture
def picks(shop: Shop) -> Picks:
    return picks_for(shop)


def picks_for(shop: Shop) -> Picks:
    """The packages the tests order, picked from the simulator's catalog by the service's rules."""
    key = tuple(shop.sim.package_ids())
    if key not in _PICKS:
        upstream = upstream_catalog(shop.container, shop.sim)
        catalog = FakeCatalog(upstream.values())
        local = local_packages(upstream)
        with_fallback = next(p for p in local if fallback_for(catalog, p) is not None)
        without_fallback = next(
            p
            for p in local
            if fallback_for(catalog, p) is None
            and rank_alternatives(
                p,
                candidate_packages(p, p.country_code, catalog),
                p.country_code,
                max_price_increase=TOLERANCE,
            )
        )
        _PICKS[key] = Picks(
            live=pick_live(upstream), with_fallback=with_fallback, without_fallback=without_fallback
        )
    return _PICKS[key]


def order_body(package: Package, quantity: int = 1) -> dict[str, Any]:
    return {"packageId": package.reseller_id, "quantity": quantity}


# --- placing ----------------------------------------------------------------------------------------------


def test_an_order_for_a_live_package_is_placed_once_and_read_back_with_its_attempt(
    shop: Shop, picks: Picks
) -> None:
    package = picks.live

    response = shop.post(order_body(package, quantity=2))

    assert response.status_code == 201, response.text
    body = response.json
    assert set(body) == set(SUMMARY_FIELDS)
    assert body["status"] == "PLACED"
    assert body["orderId"] == order_id_for("key-1")
    assert body["packageId"] == body["originalPackageId"] == package.reseller_id
    assert body["fallbackUsed"] is False
    [upstream] = shop.sim.orders
    assert upstream["id"] == body["roamifyOrderId"]
    assert upstream["referenceId"] == body["referenceId"] == f"{body['orderId']}-a1"
    assert [i["packageId"] for i in upstream["items"]] == [package.reseller_id] * 2

    read = shop.get(body["orderId"])
    assert read.status_code == 200
    assert read.json["status"] == "PLACED"
    assert [a["outcome"] for a in read.json["attempts"]] == ["placed"]


def test_an_order_by_my_package_id_orders_the_mapped_package(shop: Shop, picks: Picks) -> None:
    package = picks.live
    row = MyPackage(
        id="shop-1", reseller_id=package.reseller_id, name="mine", country_code=package.country_code
    )
    shop.container.my_packages.save(row)

    response = shop.post({"myPackageId": "shop-1", "quantity": 1})

    assert response.status_code == 201, response.text
    assert [o["items"][0]["packageId"] for o in shop.sim.orders] == [package.reseller_id]


def test_a_stale_package_is_replaced_by_one_equivalent_or_better_order(shop: Shop, picks: Picks) -> None:
    # given a package the catalog still lists as active but Roamify has removed
    package = picks.with_fallback
    shop.sim.remove_packages([package.reseller_id])

    # when it is ordered
    response = shop.post(order_body(package))

    # then exactly one upstream order exists, for an equivalent-or-better package covering the destination
    assert response.status_code == 201, response.text
    body = response.json
    assert body["fallbackUsed"] is True
    assert body["originalPackageId"] == package.reseller_id
    assert body["packageId"] != package.reseller_id
    [upstream] = shop.sim.orders
    assert upstream["items"][0]["packageId"] == body["packageId"]
    assert upstream["referenceId"] == body["referenceId"] == f"{body['orderId']}-a2"
    chosen = shop.catalog()[body["packageId"]]
    assert package.country_code in chosen.coverage
    assert is_equivalent_or_better(package, chosen, package.country_code, max_price_increase=TOLERANCE)


def test_a_package_known_inactive_goes_to_the_fallback_without_a_doomed_upstream_call(
    shop: Shop, picks: Picks
) -> None:
    # given a removal the nightly sync has already recorded
    package = picks.with_fallback
    shop.sim.remove_packages([package.reseller_id])
    sync(shop.container)
    assert shop.catalog()[package.reseller_id].status == "inactive"
    shop.sim.reset_counts()

    response = shop.post(order_body(package))

    assert response.status_code == 201, response.text
    assert response.json["fallbackUsed"] is True
    assert shop.upstream_order_posts() == 1
    assert len(shop.sim.orders) == 1
    assert response.json["referenceId"].endswith("-a1")


def test_a_500_after_the_order_was_created_means_one_order_and_no_fallback(shop: Shop, picks: Picks) -> None:
    package = picks.with_fallback
    shop.sim.faults.error_after_commit_next = 1

    response = shop.post(order_body(package))

    assert response.status_code == 201, response.text
    assert response.json["fallbackUsed"] is False
    assert response.json["packageId"] == package.reseller_id
    [upstream] = shop.sim.orders
    assert upstream["id"] == response.json["roamifyOrderId"]
    attempts = shop.get(response.json["orderId"]).json["attempts"]
    assert [(a["outcome"], a["error"]) for a in attempts] == [("found_after_error", "http_500")]


def test_a_timeout_after_the_order_was_created_means_one_order_and_no_fallback(
    shop: Shop, picks: Picks
) -> None:
    package = picks.with_fallback
    shop.sim.faults.timeout_after_commit_next = 1

    started = time.monotonic()
    response = shop.post(order_body(package))

    assert response.status_code == 201, response.text
    assert response.json["fallbackUsed"] is False
    assert len(shop.sim.orders) == 1
    assert shop.upstream_order_posts() == 1
    assert time.monotonic() - started < 5
    attempts = shop.get(response.json["orderId"]).json["attempts"]
    assert [(a["outcome"], a["error"]) for a in attempts] == [("found_after_error", "timeout")]


def test_no_equivalent_package_answers_409_with_alternatives_and_orders_nothing(
    shop: Shop, picks: Picks
) -> None:
    package = picks.without_fallback
    shop.sim.remove_packages([package.reseller_id])

    response = shop.post(order_body(package))

    assert response.status_code == 409, response.text
    body = response.json
    assert body["error"]["code"] == "no_equivalent_package"
    assert body["error"]["orderId"] == order_id_for("key-1")
    assert body["alternatives"], "a 409 offers what there is"
    assert all(a["downgrade"] and a["reasons"] for a in body["alternatives"])
    assert shop.sim.orders == []
    # and the same key again answers the same, still ordering nothing
    again = shop.post(order_body(package))
    assert again.status_code == 409
    assert again.json == body
    assert shop.sim.orders == []


EUROPE_PLAN = "esim-europe-30days-10gb-all"  # listed by Roamify under Denmark (and its other countries)
DENMARK_PLAN = "esim-denmark-30days-unlimited-all"


def test_an_inactive_regional_package_ordered_by_id_never_buys_a_one_country_package(shop: Shop) -> None:
    # given Roamify dropped the Europe plan, and cut its Denmark-only unlimited plan to below its price
    europe = shop.catalog()[EUROPE_PLAN]
    assert len(europe.coverage) > 1 and europe.country_code in europe.coverage
    shop.sim.change_prices([DENMARK_PLAN], delta=-60)
    shop.sim.remove_packages([EUROPE_PLAN])
    sync(shop.container)
    catalog = shop.catalog()
    assert catalog[EUROPE_PLAN].status == "inactive"
    # (for a customer going to Denmark alone, the Denmark plan would do: the trap is set)
    denmark = catalog[DENMARK_PLAN]
    assert is_equivalent_or_better(europe, denmark, europe.country_code, max_price_increase=TOLERANCE)

    # when the Europe plan is ordered by its packageId
    response = shop.post(order_body(europe))

    # then nothing covering only part of Europe is bought: the simulated catalog has no plan
    # covering all of it that is equivalent or better, so nothing is bought at all
    assert response.status_code == 409, response.text
    assert shop.sim.orders == []
    assert all(set(europe.coverage) <= set(a["coverage"]) for a in response.json["alternatives"])
    assert DENMARK_PLAN not in [a["packageId"] for a in response.json["alternatives"]]


def test_a_gateway_504_while_the_order_commits_late_gives_exactly_one_order(shop: Shop, picks: Picks) -> None:
    # given a proxy that answers 504 while Roamify still creates the order, which the first lookup misses
    package = picks.live
    shop.sim.faults.proxy_error_next = 1

    # when it is ordered
    response = shop.post(order_body(package))

    # then no second attempt is sent: the lookups, spaced, find the one order Roamify holds
    assert response.status_code == 201, response.text
    assert response.json["status"] == "PLACED"
    assert shop.upstream_order_posts() == 1
    [upstream] = shop.sim.orders
    # and a read shows that order, as does the same key again, still without a second one
    read = shop.get(response.json["orderId"])
    assert read.json["status"] == "PLACED"
    assert read.json["roamifyOrderId"] == upstream["id"]
    assert [(a["outcome"], a["error"]) for a in read.json["attempts"]] == [("found_after_error", "http_504")]
    again = shop.post(order_body(package))
    assert (again.status_code, again.json["status"]) == (200, "PLACED")
    assert len(shop.sim.orders) == 1
    assert shop.upstream_order_posts() == 1


def test_an_unreadable_2xx_is_not_followed_by_a_blind_retry(shop: Shop, picks: Picks) -> None:
    # given Roamify creating the order (late) but answering 200 with a body that is not JSON
    package = picks.with_fallback
    shop.sim.faults.garbled_ok_next = 1

    response = shop.post(order_body(package))

    # then the lookups find the order: one order, no fallback
    assert response.status_code == 201, response.text
    assert response.json["fallbackUsed"] is False
    assert shop.upstream_order_posts() == 1
    assert len(shop.sim.orders) == 1
    read = shop.get(response.json["orderId"])
    assert read.json["status"] == "PLACED"
    assert read.json["roamifyOrderId"] == shop.sim.orders[0]["id"]
    assert len(shop.sim.orders) == 1


# --- idempotency -----------------------------------------------------------------------------------------


def test_the_same_key_twice_in_a_row_places_one_order(shop: Shop, picks: Picks) -> None:
    package = picks.live

    first = shop.post(order_body(package))
    second = shop.post(order_body(package))

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json == first.json
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(shop.sim.orders) == 1
    assert shop.upstream_order_posts() == 1


def test_the_same_key_twice_at_once_places_one_order(shop: Shop, picks: Picks) -> None:
    # (the aws fixture makes moto's conditional writes atomic, as DynamoDB's are)
    package = picks.live
    shop.sim.faults.slow_seconds = 0.2  # the first order is still in flight when the second arrives
    barrier = threading.Barrier(2)
    responses: list[TestResponse] = []

    def post() -> None:
        client = shop.client()
        barrier.wait()
        responses.append(shop.post(order_body(package), client=client))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)

    assert sorted(r.status_code for r in responses) == [200, 201], [r.text for r in responses]
    assert {r.json["orderId"] for r in responses} == {order_id_for("key-1")}
    assert responses[0].json == responses[1].json
    assert len(shop.sim.orders) == 1
    assert shop.upstream_order_posts() == 1


def test_the_same_key_with_another_body_is_422_and_places_nothing_more(shop: Shop, picks: Picks) -> None:
    package = picks.live
    assert shop.post(order_body(package)).status_code == 201

    response = shop.post(order_body(package, quantity=2))

    assert response.status_code == 422
    assert response.json["error"]["code"] == "idempotency_key_reused"
    assert len(shop.sim.orders) == 1


# --- Roamify down -----------------------------------------------------------------------------------------


def test_roamify_down_answers_503_fast_once_the_breaker_opens_and_orders_nothing(
    shop: Shop, picks: Picks
) -> None:
    package = picks.live
    shop.sim.faults.outage = True

    # Roamify's own 503 says it created nothing: 503 at once, while the breaker counts the failures
    statuses = [shop.post(order_body(package), key=f"down-{i}").status_code for i in range(BREAKER_THRESHOLD)]
    assert statuses == [503] * BREAKER_THRESHOLD
    records = len(shop.order_records())
    upstream_calls = sum(shop.sim.request_counts.values())

    started = time.monotonic()
    response = shop.post(order_body(package), key="down-late")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.json["error"]["code"] == "upstream_unavailable"
    assert int(response.headers["Retry-After"]) >= 1
    assert elapsed < 1.0
    assert sum(shop.sim.request_counts.values()) == upstream_calls  # not one call to Roamify
    assert len(shop.order_records()) == records  # and no Orders record for it
    assert shop.sim.orders == []


# --- the time budget starts at handler entry ---------------------------------------------------------------


class _SlowClock:
    """Stands in for the orders module's `time`: monotonic time that a test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.sleep = time.sleep

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


def test_wiring_that_eats_the_order_budget_counts_against_it_and_nothing_is_ordered(
    shop: Shop, picks: Picks, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a cold container whose wiring (the Roamify key from Secrets Manager) takes 8 of the 10 s
    module = lambda_runtime.load_module("OrdersFunction")
    clock = _SlowClock()

    class SlowToWire(Container):
        @cached_property
        def order_roamify(self) -> RoamifyClient:
            clock.offset += 8.0
            return super().order_roamify

    set_container(SlowToWire(shop.container.settings))
    monkeypatch.setattr(module, "time", clock)
    monkeypatch.setattr(module, "_cold", False)

    # when an order comes in
    response = shop.post(order_body(picks.live))

    # then the 2 s left are not enough to order safely: a 503 to retry, and nothing ordered
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert shop.upstream_order_posts() == 0
    assert shop.sim.orders == []


@pytest.mark.parametrize(("cold", "status"), [(True, 503), (False, 201)], ids=["cold", "warm"])
def test_a_cold_starts_init_counts_against_the_first_requests_budget(
    shop: Shop, picks: Picks, monkeypatch: pytest.MonkeyPatch, cold: bool, status: int
) -> None:
    # given an init (imports and runtime start) of 7.5 s, which API Gateway's clock counted too
    module = lambda_runtime.load_module("OrdersFunction")
    monkeypatch.setattr(module, "_INIT_SECONDS", 7.5)
    monkeypatch.setattr(module, "_cold", cold)

    response = shop.post(order_body(picks.live))

    # then on the container's first request the 10 s budget is mostly gone; a warm one has it all
    assert response.status_code == status, response.text
    assert len(shop.sim.orders) == (1 if status == 201 else 0)


# --- UNKNOWN, then reconciled ---------------------------------------------------------------------------


def test_an_unknown_order_is_answered_202_and_a_later_get_reconciles_it_to_placed(
    shop: Shop, picks: Picks
) -> None:
    package = picks.live
    shop.sim.faults.error_after_commit_next = 1  # created, then a 500 …
    # … and every lookup fails for as long as the request has: the list reset, get-one a 500
    shop.sim.faults.lookup_500_next = 1000
    shop.sim.faults.socket_faults = [SocketFault(kind="reset", path="/api/esim/orders", count=-1)]

    response = shop.post(order_body(package))

    assert response.status_code == 202, response.text
    assert response.json["status"] == "UNKNOWN"
    assert response.json["roamifyOrderId"] is None
    assert len(shop.sim.orders) == 1

    # when Roamify answers again (and a fresh container, whose breaker has not seen the failures)
    shop.sim.reset_faults()
    set_container(Container(shop_settings(shop.sim.url)))
    read = shop.get(response.json["orderId"])

    assert read.status_code == 200
    assert read.json["status"] == "PLACED"
    assert read.json["roamifyOrderId"] == shop.sim.orders[0]["id"]
    assert len(shop.sim.orders) == 1
    assert shop.upstream_order_posts() == 1
    # and the same key now answers the placed order
    again = shop.post(order_body(package))
    assert again.status_code == 200
    assert again.json["status"] == "PLACED"


def test_an_unknown_order_id_is_404(bare_shop: Shop) -> None:
    shop = bare_shop
    response = shop.get("00000000-0000-0000-0000-000000000000")

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


# --- bad input --------------------------------------------------------------------------------------------

VALID_ID = "__valid__"


@dataclass(frozen=True)
class BadInput:
    key: str | None
    body: Any
    status: int
    raw: str | None = None  # sent verbatim instead of `body` as JSON


GOOD = {"packageId": VALID_ID, "quantity": 1}
BAD_INPUTS = {
    "missing key": BadInput(None, GOOD, 400),
    "blank key": BadInput("  ", GOOD, 400),
    "key too long": BadInput("k" * 201, GOOD, 400),
    "quantity 0": BadInput("k", {**GOOD, "quantity": 0}, 400),
    "quantity above the limit": BadInput("k", {**GOOD, "quantity": 11}, 400),
    "quantity as a string": BadInput("k", {**GOOD, "quantity": "1"}, 400),
    "quantity as a bool": BadInput("k", {**GOOD, "quantity": True}, 400),
    "quantity as a float": BadInput("k", {**GOOD, "quantity": 1.5}, 400),
    "no quantity": BadInput("k", {"packageId": VALID_ID}, 400),
    "packageId a number": BadInput("k", {"packageId": 12, "quantity": 1}, 400),
    "no package": BadInput("k", {"quantity": 1}, 400),
    "both ids": BadInput("k", {**GOOD, "myPackageId": "m"}, 400),
    "unknown field": BadInput("k", {**GOOD, "coupon": "x"}, 400),
    "unknown packageId": BadInput("k", {"packageId": "esim-nowhere-1day-1gb", "quantity": 1}, 404),
    "unknown myPackageId": BadInput("k", {"myPackageId": "no-such-row", "quantity": 1}, 404),
    "malformed JSON": BadInput("k", None, 400, raw='{"packageId": '),
    "a list body": BadInput("k", [1, 2], 400),
    "no body": BadInput("k", None, 400, raw=""),
}


@pytest.mark.parametrize("case", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_a_4xx_with_the_error_shape_and_no_record_and_no_upstream_call(
    bare_shop: Shop, picks: Picks, case: BadInput
) -> None:
    shop = bare_shop
    body = case.body
    if isinstance(body, dict) and body.get("packageId") == VALID_ID:
        body = {**body, "packageId": picks.live.reseller_id}

    response = shop.post(body, key=case.key, raw=case.raw)

    assert response.status_code == case.status, response.text
    error = response.json["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    assert "Traceback" not in response.text
    assert shop.order_records() == []
    assert sum(shop.sim.request_counts.values()) == 0


def test_the_admin_token_is_not_accepted_on_the_orders_route(bare_shop: Shop, picks: Picks) -> None:
    shop = bare_shop
    response = shop.client().post(
        ORDERS,
        headers={"Authorization": "Bearer admin-secret-token", "Idempotency-Key": "k"},
        data=json.dumps({"packageId": picks.live.reseller_id, "quantity": 1}),
    )

    assert response.status_code == 403
    assert shop.order_records() == []
