"""The simulator's documented shapes, its readings of what the documentation leaves open, and its
faults — the socket ones proven through the real `requests` stack."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from roamsync_dev.simulator import (
    RawNumber,
    RoamifySimulator,
    SocketFault,
    out_of_range_packages,
    start_server,
)

PACKAGES = "/api/esim/packages"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> RoamifySimulator:
    return RoamifySimulator(size=300, seed=7, clock=clock)


@pytest.fixture
def http(sim: RoamifySimulator) -> Iterator[tuple[str, requests.Session]]:
    with start_server(sim) as server, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {sim.api_key}"
        yield server.url, session


def get(http: tuple[str, requests.Session], path: str, **params: Any) -> requests.Response:
    url, session = http
    return session.get(url + path, params=params, timeout=10)


def page(http: tuple[str, requests.Session], number: int, size: int = 50) -> list[dict[str, Any]]:
    response = get(http, PACKAGES, page=number, pageSize=size)
    assert response.status_code == 200, response.text
    return response.json()["data"]["packages"]


def order(http: tuple[str, requests.Session], package_id: str, reference_id: str) -> requests.Response:
    url, session = http
    body = {"items": [{"packageId": package_id, "quantity": 1}], "referenceId": reference_id}
    return session.post(url + "/api/esim/order", json=body, timeout=10)


def entries(nodes: list[dict[str, Any]]) -> list[Any]:
    return [p for node in nodes for p in node["packages"]]


# ---- shapes ---------------------------------------------------------------------------------------


def test_nodes_and_packages_have_the_documented_shapes(http: Any, sim: RoamifySimulator) -> None:
    nodes = page(http, 1)
    assert all(isinstance(n["id"], str) and n["id"] == f"{n['countrySlug']}-esims" for n in nodes)
    assert all(isinstance(p["notes"], list) for p in entries(nodes))
    everything = [sim.get_package(pid) for pid in sim.package_ids()]
    needing = [p for p in everything if p.get("requirements", {}).get("travelDate")]
    assert 0 < len(needing) < len(everything) // 50, "a few packages need a travel date"


def test_the_country_filter_takes_a_name_and_the_code_filter_a_code(http: Any) -> None:
    by_name = get(http, PACKAGES, country="Sweden").json()["data"]["packages"]
    by_code = get(http, PACKAGES, countryCode="SE").json()["data"]["packages"]
    assert {n["countryName"] for n in by_name} == {"Sweden"}
    assert {n["countryCode"] for n in by_code} == {"SE"}
    refused = get(http, PACKAGES, country="SE")
    assert refused.status_code == 400 and refused.json()["status"] == "failed"


def test_order_ids_are_uuids_of_type_api(http: Any, sim: RoamifySimulator) -> None:
    created = order(http, sim.package_ids()[0], "ref-1").json()["data"]
    assert str(uuid.UUID(created["id"])) == created["id"] and created["orderType"] == "api"
    assert [item["type"] for item in created["items"]] == ["esim"]


# ---- readings of what the documentation leaves open ---------------------------------------------------


@pytest.mark.parametrize(
    ("reading", "status", "data"), [("404", 404, None), ("null", 200, None), ("empty", 200, {})]
)
def test_an_unknown_order_is_answered_as_the_reading_says(
    http: Any, sim: RoamifySimulator, reading: str, status: int, data: Any
) -> None:
    sim.readings.unknown_order_answer = reading  # type: ignore[assignment]
    response = get(http, "/api/esim/order", referenceId="never-used")
    assert response.status_code == status
    if status == 200:
        assert response.json() == {"status": "success", "data": data}


@pytest.mark.parametrize(("reading", "status"), [("empty", 200), ("404", 404)])
def test_an_unlisted_package_is_answered_as_the_reading_says(
    http: Any, sim: RoamifySimulator, reading: str, status: int
) -> None:
    sim.readings.unknown_package_answer = reading  # type: ignore[assignment]
    response = get(http, PACKAGES, packageId="esim-nowhere")
    assert response.status_code == status
    if status == 200:
        assert response.json()["data"]["packages"] == []


def test_page_size_can_count_country_nodes(http: Any, sim: RoamifySimulator) -> None:
    sim.readings.page_size_counts = "nodes"
    first = page(http, 1, size=5)
    assert len(first) == 5 and len(entries(first)) > 5


# ---- logical faults -------------------------------------------------------------------------------


def test_a_node_removed_after_page_1_shifts_every_later_listing(http: Any, sim: RoamifySimulator) -> None:
    before = sim.listings()
    sim.faults.shift_after_page = 1

    first = page(http, 1)
    second = page(http, 2)

    removed_node = first[0]["countrySlug"]
    gone = [(s, p) for s, p in before if s == removed_node]
    assert sim.shift_removed and set(sim.shift_removed) <= {p for _, p in gone}
    # the listing that opened page 2 before the change is now on page 1, which was already read
    assert (
        next((n["countrySlug"], p["packageId"]) for n in second for p in n["packages"])
        == before[50 + len(gone)]
    )
    assert before[50] not in [(n["countrySlug"], p["packageId"]) for n in second for p in n["packages"]]


def test_a_null_in_a_full_page_takes_a_slot(http: Any, sim: RoamifySimulator) -> None:
    sim.faults.null_record_page = 2
    served = entries(page(http, 2))
    assert len(served) == 50 and served.count(None) == 1


def test_raw_number_literals_reach_the_wire_verbatim(http: Any, sim: RoamifySimulator) -> None:
    sim.inject_raw_packages(1, [*out_of_range_packages(), {"packageId": "x", "price": RawNumber("9" * 5000)}])
    text = get(http, PACKAGES, page=1, pageSize=50).text
    assert '"price": 1e999' in text and '"dataAmount": 1e300' in text and "NaN" in text
    assert "9" * 5000 in text


def test_a_late_visible_commit_is_found_only_after_its_delay(
    http: Any, sim: RoamifySimulator, clock: Clock
) -> None:
    sim.faults.error_after_commit_next = 1
    sim.faults.late_visible_seconds = 5
    assert order(http, sim.package_ids()[0], "ref-late").status_code == 500
    assert get(http, "/api/esim/order", referenceId="ref-late").status_code == 404
    assert get(http, "/api/esim/orders", referenceId="ref-late").json()["data"]["orders"] == []
    clock.now += 5
    assert get(http, "/api/esim/order", referenceId="ref-late").status_code == 200


# ---- socket faults, through the real requests stack ------------------------------------------------------


def test_a_cut_off_page_body_raises_chunked_encoding_error(http: Any, sim: RoamifySimulator) -> None:
    sim.faults.socket_faults = [SocketFault("cut", path=PACKAGES, page=2)]
    assert page(http, 1)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(http, PACKAGES, page=2, pageSize=50)
    assert page(http, 2), "spent after one answer"
    assert sim.injected_counts["socket cut"] == 1


def test_a_dripping_answer_takes_as_long_as_its_drip(http: Any, sim: RoamifySimulator) -> None:
    sim.faults.socket_faults = [SocketFault("drip", path="/api/health", drip_bytes=20, drip_interval=0.05)]
    started = time.monotonic()
    response = get(http, "/api/health")
    length = len(response.content) + 60  # at least the status line and headers dripped too
    assert response.status_code == 200
    assert time.monotonic() - started >= (length // 20) * 0.05


def test_a_reset_after_the_headers_breaks_the_body_off_with_connection_reset(
    http: Any, sim: RoamifySimulator
) -> None:
    sim.faults.socket_faults = [SocketFault("reset", path="/api/health")]
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="Connection reset by peer"):
        get(http, "/api/health")


def test_a_create_cut_off_after_commit_still_created_the_order(http: Any, sim: RoamifySimulator) -> None:
    sim.faults.socket_faults = [SocketFault("cut", method="POST", path="/api/esim/order", cut_at=0.3)]
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        order(http, sim.package_ids()[0], "ref-cut")
    assert [o["referenceId"] for o in sim.orders] == ["ref-cut"]


def test_a_reset_before_the_response_creates_nothing(http: Any, sim: RoamifySimulator) -> None:
    sim.faults.socket_faults = [SocketFault("reset", method="POST", before_response=True)]
    with pytest.raises(requests.ConnectionError):
        order(http, sim.package_ids()[0], "ref-reset")
    assert sim.orders == []


def test_a_reset_before_the_response_comes_while_the_request_body_is_still_on_the_socket(
    http: Any, sim: RoamifySimulator
) -> None:
    # A body bigger than the server's read buffer: most of it is still unread on the socket when
    # the reset is decided, as a body sent in its own segment after the headers can be.
    sim.faults.socket_faults = [SocketFault("reset", method="POST", before_response=True)]
    url, session = http
    items = [{"packageId": sim.package_ids()[0], "quantity": 1}] * 3000
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        session.post(url + "/api/esim/order", json={"items": items, "referenceId": "big"}, timeout=3)
    assert time.monotonic() - started < 2, "the reset came only once the client gave up"
    assert sim.orders == []
