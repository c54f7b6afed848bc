"""The Roamify simulator, served on loopback and driven over HTTP the way the Roamify client will drive it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from roamsync_dev.simulator import (
    UNLIMITED_DATA_AMOUNT,
    RoamifySimulator,
    generate_catalog,
    malformed_packages,
    start_server,
)

PAGE_SIZE = 37  # deliberately not a divisor of the catalog's listing count


@dataclass
class Upstream:
    """A thin authorised HTTP client for the simulator under test."""

    url: str
    session: requests.Session

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.url + path, params=params, timeout=10)

    def post(self, path: str, body: Any) -> requests.Response:
        return self.session.post(self.url + path, json=body, timeout=10)

    def page(self, number: int, page_size: int = PAGE_SIZE, **filters: Any) -> list[dict[str, Any]]:
        response = self.get("/api/esim/packages", page=number, pageSize=page_size, **filters)
        assert response.status_code == 200, response.text
        return response.json()["data"]["packages"]


@pytest.fixture
def simulator() -> RoamifySimulator:
    return RoamifySimulator(size=300, seed=7)


@pytest.fixture
def upstream(simulator: RoamifySimulator) -> Iterator[Upstream]:
    with start_server(simulator) as server, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {simulator.api_key}"
        yield Upstream(server.url, session)


def listings_of(nodes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(node["countrySlug"], package["packageId"]) for node in nodes for package in node["packages"]]


def fetch_every_page(upstream: Upstream, page_size: int = PAGE_SIZE) -> list[list[dict[str, Any]]]:
    """Page the way the client must: until a page holds fewer than page_size listings."""
    pages: list[list[dict[str, Any]]] = []
    while not pages or len(listings_of(pages[-1])) == page_size:
        pages.append(upstream.page(len(pages) + 1, page_size))
        assert len(pages) < 1000, "paging never ended"
    return pages


def all_listings(upstream: Upstream) -> list[tuple[str, str]]:
    return [listing for page in fetch_every_page(upstream) for listing in listings_of(page)]


def order_body(package_id: str, reference_id: str | None = "ref-1") -> dict[str, Any]:
    return {"items": [{"packageId": package_id, "quantity": 1}], "referenceId": reference_id}


# ---- catalog generation ----------------------------------------------------------------------------


def test_same_seed_generates_the_same_catalog() -> None:
    # given / when
    first, second = generate_catalog(500, seed=11), generate_catalog(500, seed=11)
    # then
    assert first == second
    assert first != generate_catalog(500, seed=12)


def test_generator_yields_exactly_size_distinct_ids_beyond_the_natural_combinations() -> None:
    # when
    catalog = generate_catalog(10_000)
    # then
    ids = [package["packageId"] for package in catalog]
    assert len(ids) == len(set(ids)) == 10_000
    assert any(len(package["_countryNodes"]) > 1 for package in catalog)
    assert any(package["_countryNodes"] == ["global"] for package in catalog)


# ---- packages ------------------------------------------------------------------------------------


def test_paging_stops_on_a_short_page_and_lists_every_package_once(
    simulator: RoamifySimulator, upstream: Upstream
) -> None:
    # when
    pages = [listings_of(page) for page in fetch_every_page(upstream)]
    # then
    listings = [listing for page in pages for listing in page]
    assert all(len(page) == PAGE_SIZE for page in pages[:-1]) and len(pages[-1]) < PAGE_SIZE
    assert len(listings) == len(set(listings)) == simulator.listing_count()
    assert {package_id for _, package_id in listings} == set(simulator.package_ids())


def test_page_after_an_exactly_full_last_page_is_empty(
    simulator: RoamifySimulator, upstream: Upstream
) -> None:
    # given a page size that fits every listing on page 1
    page_size = simulator.listing_count()
    # when
    pages = fetch_every_page(upstream, page_size)
    # then
    assert [len(listings_of(page)) for page in pages] == [page_size, 0]


def test_regional_package_is_listed_under_its_region_and_several_countries(
    simulator: RoamifySimulator, upstream: Upstream
) -> None:
    # given
    regional_id = next(
        pid for pid in simulator.package_ids() if len(simulator.get_package(pid)["_countryNodes"]) > 1
    )
    # when
    nodes = upstream.page(1, packageId=regional_id)
    # then
    geographies = [node["geography"] for node in nodes]
    assert geographies.count("regional") == 1 and geographies.count("local") >= 3
    assert all([p["packageId"] for p in node["packages"]] == [regional_id] for node in nodes)
    region = next(node for node in nodes if node["geography"] == "regional")
    member_codes = {signal["code"] for signal in region["signals"]}
    assert {node["countryCode"] for node in nodes if node["geography"] == "local"} <= member_codes


def test_unlimited_plans_report_the_max_safe_integer_as_data(upstream: Upstream) -> None:
    # when
    pages = fetch_every_page(upstream)
    # then
    unlimited = [p for page in pages for node in page for p in node["packages"] if p["isUnlimited"]]
    assert unlimited
    assert all(p["dataAmount"] == UNLIMITED_DATA_AMOUNT for p in unlimited)


def test_removed_package_disappears_from_listing_and_from_the_package_filter(
    simulator: RoamifySimulator, upstream: Upstream
) -> None:
    # given
    removed = simulator.remove_fraction(0.1, seed=3)
    # when
    listed = {package_id for _, package_id in all_listings(upstream)}
    filtered = upstream.page(1, packageId=removed[0])
    # then
    assert listed.isdisjoint(removed)
    assert filtered == []


def test_restored_package_is_listed_again(simulator: RoamifySimulator, upstream: Upstream) -> None:
    # given
    package_id = simulator.package_ids()[0]
    simulator.remove_packages([package_id])
    # when
    simulator.restore_packages([package_id])
    # then
    assert listings_of(upstream.page(1, packageId=package_id))


def test_changed_price_is_served(simulator: RoamifySimulator, upstream: Upstream) -> None:
    # given
    package_id = simulator.package_ids()[0]
    before = simulator.get_package(package_id)["price"]
    # when
    simulator.change_prices([package_id], delta=2.5)
    # then
    served = upstream.page(1, packageId=package_id)[0]["packages"][0]
    assert served["price"] == round(before + 2.5, 2)


def test_added_packages_are_new_and_listed(simulator: RoamifySimulator, upstream: Upstream) -> None:
    # given
    before = set(simulator.package_ids())
    # when
    added = simulator.add_packages(5)
    # then
    assert len(added) == 5 and before.isdisjoint(added)
    assert {package_id for _, package_id in all_listings(upstream)} == before | set(added)


def test_injected_malformed_records_are_served_on_their_page(
    simulator: RoamifySimulator, upstream: Upstream
) -> None:
    # given
    simulator.inject_raw_packages(2, malformed_packages())
    # when
    served = [p for node in upstream.page(2) for p in node["packages"]]
    # then
    assert any("packageId" not in p for p in served)
    assert any(p.get("dataUnit") == "TB" for p in served)


def test_countries_lists_regional_nodes_whose_codes_clash_with_countries(upstream: Upstream) -> None:
    # when
    countries = upstream.get("/api/esim/countries").json()["data"]["countries"]
    # then
    # then, as Roamify documents it: {code, name}, codes not unique
    assert all(set(c) == {"code", "name"} for c in countries)
    named_af = {c["name"] for c in countries if c["code"] == "AF"}
    assert named_af == {"Afghanistan", "Africa Adventure"}


# ---- auth, health and faults ---------------------------------------------------------------------


def test_health_answers_success(upstream: Upstream) -> None:
    assert upstream.get("/api/health").json() == {"status": "success"}


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-key", "sim-key"])
def test_request_without_the_right_token_is_refused_with_401(
    upstream: Upstream, authorization: str | None
) -> None:
    # given
    headers = {} if authorization is None else {"Authorization": authorization}
    # when
    response = requests.get(upstream.url + "/api/esim/packages", headers=headers, timeout=10)
    # then
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized", "status": "failed"}


def test_unknown_route_answers_404(upstream: Upstream) -> None:
    assert upstream.get("/api/esim/nothing-here").status_code == 404


def test_fail_page_answers_500_for_that_page_only(simulator: RoamifySimulator, upstream: Upstream) -> None:
    # given
    simulator.faults.fail_page = 2
    # when
    statuses = [upstream.get("/api/esim/packages", page=n, pageSize=PAGE_SIZE).status_code for n in (1, 2, 3)]
    # then
    assert statuses == [200, 500, 200]


def test_rate_limit_answers_429_with_retry_after_then_clears(
    simulator: RoamifySimulator, upstream: Upstream
) -> None:
    # given
    simulator.faults.rate_limit_remaining_429 = 2
    simulator.faults.retry_after_seconds = 7
    # when
    responses = [upstream.get("/api/esim/packages", page=1) for _ in range(3)]
    # then
    assert [r.status_code for r in responses] == [429, 429, 200]
    assert responses[0].headers["Retry-After"] == "7"


def test_outage_answers_503_even_for_health(simulator: RoamifySimulator, upstream: Upstream) -> None:
    # given
    simulator.faults.outage = True
    # when / then
    assert upstream.get("/api/health").status_code == 503
    simulator.reset_faults()
    assert upstream.get("/api/health").status_code == 200


def test_random_500s_are_reproducible_for_a_seed() -> None:
    # given two simulators with the same seed and failure rate
    def statuses() -> list[int]:
        simulator = RoamifySimulator(size=20, seed=5)
        simulator.faults.random_500_rate = 0.5
        with start_server(simulator) as server:
            headers = {"Authorization": "Bearer sim-key"}
            return [
                requests.get(server.url + "/api/health", headers=headers, timeout=10).status_code
                for _ in range(20)
            ]

    # when / then
    first = statuses()
    assert first == statuses()
    assert {200, 500} == set(first)


def test_requests_are_counted_by_method_and_path(simulator: RoamifySimulator, upstream: Upstream) -> None:
    # when
    pages = fetch_every_page(upstream)
    # then
    assert simulator.request_counts[("GET", "/api/esim/packages")] == len(pages)


# ---- orders --------------------------------------------------------------------------------------


def test_order_is_created_and_logged(simulator: RoamifySimulator, upstream: Upstream) -> None:
    # given
    package_id = simulator.package_ids()[0]
    # when
    response = upstream.post("/api/esim/order", order_body(package_id, "ref-ok"))
    # then
    order = response.json()["data"]
    assert response.status_code == 200
    assert order["status"] == "COMPLETED" and str(uuid.UUID(order["id"])) == order["id"]
    assert order["orderType"] == "api"
    assert [item["packageId"] for item in order["items"]] == [package_id]
    assert [(o["id"], o["referenceId"]) for o in simulator.orders] == [(order["id"], "ref-ok")]


def test_unknown_package_answers_500_unknown_error_and_creates_nothing(
    simulator: RoamifySimulator, upstream: Upstream
) -> None:
    # when
    response = upstream.post("/api/esim/order", order_body("esim-atlantis-7days-1gb-all"))
    # then
    assert response.status_code == 500
    assert response.json() == {"message": "Unknown error", "status": "failed"}
    assert simulator.orders == []


def test_malformed_order_body_answers_400(simulator: RoamifySimulator, upstream: Upstream) -> None:
    # when
    response = upstream.post("/api/esim/order", {"items": [{"quantity": 1}]})
    # then
    assert response.status_code == 400
    assert simulator.orders == []


def test_error_after_commit_answers_500_but_the_order_exists(
    simulator: RoamifySimulator, upstream: Upstream
) -> None:
    # given
    simulator.faults.error_after_commit_next = 1
    # when
    response = upstream.post("/api/esim/order", order_body(simulator.package_ids()[0], "ref-ghost"))
    # then
    assert response.status_code == 500
    assert [o["referenceId"] for o in simulator.orders] == ["ref-ghost"]
    found = upstream.get("/api/esim/order", referenceId="ref-ghost")
    assert found.status_code == 200
    assert found.json()["data"]["id"] == simulator.orders[0]["id"]


def test_timeout_after_commit_still_creates_the_order(
    simulator: RoamifySimulator, upstream: Upstream
) -> None:
    # given
    simulator.faults.timeout_after_commit_next = 1
    simulator.faults.timeout_seconds = 1.0
    # when
    with pytest.raises(requests.exceptions.ReadTimeout):
        upstream.session.post(
            upstream.url + "/api/esim/order",
            json=order_body(simulator.package_ids()[0], "ref-slow"),
            timeout=0.2,
        )
    # then
    assert [o["referenceId"] for o in simulator.orders] == ["ref-slow"]


def test_reused_reference_id_creates_a_second_order(simulator: RoamifySimulator, upstream: Upstream) -> None:
    # when
    for _ in range(2):
        upstream.post("/api/esim/order", order_body(simulator.package_ids()[0], "ref-twice"))
    # then
    listed = upstream.get("/api/esim/orders", referenceId="ref-twice").json()["data"]["orders"]
    assert len(simulator.orders) == len(listed) == 2


def test_order_lookup_answers_404_when_none_exists(upstream: Upstream) -> None:
    # when
    response = upstream.get("/api/esim/order", orderId=str(uuid.uuid4()))
    # then
    assert response.status_code == 404
    assert response.json() == {"message": "Order not found", "status": "failed"}
