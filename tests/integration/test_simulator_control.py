"""The simulator's control API (/_sim/) and `roamsync sim`, over real HTTP: each change is checked
in what Roamify's own API then answers, and each refusal leaves the simulator as it was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from roamsync_dev.cli import main
from roamsync_dev.simulator import RoamifySimulator, SocketFault, start_server
from tests.conftest import SIM_KEY

PACKAGES = "/api/esim/packages"


class Upstream:
    """A served simulator and a session carrying its key."""

    def __init__(self, sim: RoamifySimulator, url: str, session: requests.Session) -> None:
        self.sim, self.url, self.session = sim, url, session

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.url}/_sim{path}", timeout=10, **kwargs)

    def roamify(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.url + path, params=params, timeout=10)

    def listed_everywhere(self) -> set[str]:
        """Every packageId on every page of GET /api/esim/packages."""
        seen: set[str] = set()
        number = 1
        while True:
            response = self.roamify(PACKAGES, page=number, pageSize=100)
            assert response.status_code == 200, response.text
            nodes = response.json()["data"]["packages"]
            if not nodes:
                return seen
            seen |= {p["packageId"] for node in nodes for p in node["packages"]}
            number += 1

    def lookup(self, package_id: str) -> list[dict[str, Any]]:
        """What ?packageId= answers: the package's listings (empty when it is not listed)."""
        response = self.roamify(PACKAGES, packageId=package_id)
        assert response.status_code == 200, response.text
        return [p for node in response.json()["data"]["packages"] for p in node["packages"]]

    def snapshot(self) -> dict[str, Any]:
        """What a refused control request must leave alone."""
        sim = self.sim
        return {
            "listed": sim.package_ids(),
            "removed": sim.removed_ids(),
            "prices": {pid: sim.get_package(pid)["price"] for pid in sim.package_ids()},
            "faults": repr(sim.faults),
        }


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    sim = RoamifySimulator(size=120, seed=7, api_key=SIM_KEY)
    with start_server(sim, port=0) as server, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {SIM_KEY}"
        yield Upstream(sim, server.url, session)


def error_of(response: requests.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return body["error"]


# ---- authorisation and routing ------------------------------------------------------------------


CONTROL_CALLS = [
    ("GET", "/", None),
    ("GET", "/packages", None),
    ("POST", "/packages/remove", {"ids": ["x"]}),
    ("POST", "/packages/restore", {"ids": ["x"]}),
    ("POST", "/packages/reprice", {"ids": ["x"], "delta": 1}),
    ("GET", "/faults", None),
    ("PUT", "/faults", {"outage": True}),
    ("PATCH", "/faults", {"outage": True}),
    ("DELETE", "/faults", None),
    ("POST", "/faults/socket", {"kind": "cut"}),
    ("GET", "/orders", None),
]


@pytest.mark.parametrize(("method", "path", "body"), CONTROL_CALLS)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-key", SIM_KEY])
def test_every_control_route_needs_the_simulators_key(
    upstream: Upstream, method: str, path: str, body: Any, authorization: str | None
) -> None:
    ids = upstream.sim.package_ids()[:1]
    real_body = {**body, "ids": ids} if body and "ids" in body else body
    upstream.sim.faults.fail_page = 4  # a fault DELETE would clear
    before = upstream.snapshot()
    headers = {"Authorization": authorization or ""}

    response = requests.request(
        method, f"{upstream.url}/_sim{path}", json=real_body, headers=headers, timeout=10
    )

    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert upstream.snapshot() == before


def test_a_rotated_key_is_the_only_one_the_control_api_takes(upstream: Upstream) -> None:
    upstream.sim.api_key = "rotated"
    assert upstream.control("PATCH", "/faults", json={"outage": True}).status_code == 401
    assert upstream.sim.faults.outage is False
    rotated = {"Authorization": "Bearer rotated"}
    answer = upstream.control("PATCH", "/faults", json={"outage": True}, headers=rotated)
    assert answer.status_code == 200
    assert upstream.sim.faults.outage is True


def test_the_index_lists_every_route_and_an_unknown_one_is_404(upstream: Upstream) -> None:
    routes = upstream.control("GET", "/").json()["routes"]
    assert {f"{m} /_sim{p}" for m, p, _ in CONTROL_CALLS if p != "/"} <= set(routes)
    missing = upstream.control("GET", "/nothing-here")
    assert (missing.status_code, error_of(missing)["code"]) == (404, "not_found")
    wrong_method = upstream.control("POST", "/orders")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "GET"


# ---- packages -----------------------------------------------------------------------------------


def test_listed_and_removed_ids_are_what_the_catalog_holds(upstream: Upstream) -> None:
    upstream.sim.remove_packages(upstream.sim.package_ids()[:3])

    listed = upstream.control("GET", "/packages").json()
    removed = upstream.control("GET", "/packages", params={"status": "removed"}).json()

    assert listed["ids"] == sorted(upstream.listed_everywhere())
    assert listed["count"] == len(listed["ids"]) == 117
    assert removed["ids"] == upstream.sim.removed_ids() and removed["count"] == 3
    bad = upstream.control("GET", "/packages", params={"status": "gone"})
    assert (bad.status_code, error_of(bad)["code"]) == (400, "invalid")


def test_a_removed_package_leaves_every_page_and_its_lookup_and_a_restore_brings_it_back(
    upstream: Upstream,
) -> None:
    chosen = upstream.sim.package_ids()[5:7]
    assert set(chosen) <= upstream.listed_everywhere()

    answer = upstream.control("POST", "/packages/remove", json={"ids": chosen})

    assert answer.status_code == 200 and answer.json() == {"removed": chosen}
    assert not set(chosen) & upstream.listed_everywhere()
    assert all(upstream.lookup(pid) == [] for pid in chosen)
    order = {"items": [{"packageId": chosen[0], "quantity": 1}], "referenceId": "r-removed"}
    assert upstream.session.post(upstream.url + "/api/esim/order", json=order, timeout=10).status_code == 500

    answer = upstream.control("POST", "/packages/restore", json={"ids": chosen})

    assert answer.status_code == 200 and answer.json() == {"restored": chosen}
    assert set(chosen) <= upstream.listed_everywhere()
    assert all(upstream.lookup(pid) for pid in chosen)
    assert upstream.sim.removed_ids() == []


@pytest.mark.parametrize("action", ["remove", "restore"])
def test_an_unknown_id_moves_nothing_and_is_named(upstream: Upstream, action: str) -> None:
    listed = upstream.sim.package_ids()[:2]
    upstream.sim.remove_packages(listed[1:])
    # remove: listed[1] is not listed any more; restore: listed[0] was never removed
    ids = [*listed, "esim-nowhere"]
    before = upstream.snapshot()

    answer = upstream.control("POST", f"/packages/{action}", json={"ids": ids})

    error = error_of(answer)
    assert answer.status_code == 404 and error["code"] == "unknown_packages"
    expected = [listed[1], "esim-nowhere"] if action == "remove" else [listed[0], "esim-nowhere"]
    assert error["ids"] == expected
    assert upstream.snapshot() == before
    assert upstream.lookup(listed[0]) and not upstream.lookup(listed[1])


def test_a_reprice_shows_in_the_catalog_by_delta_or_to_a_price(upstream: Upstream) -> None:
    first, second = upstream.sim.package_ids()[:2]
    old = upstream.lookup(first)[0]["price"]

    by_delta = upstream.control("POST", "/packages/reprice", json={"ids": [first], "delta": 1.5})
    to_price = upstream.control("POST", "/packages/reprice", json={"ids": [second], "price": 3.33})

    assert by_delta.json() == {"prices": {first: round(old + 1.5, 2)}}
    assert {p["price"] for p in upstream.lookup(first)} == {round(old + 1.5, 2)}
    assert to_price.json() == {"prices": {second: 3.33}}
    assert {p["price"] for p in upstream.lookup(second)} == {3.33}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"ids": ["KNOWN", "esim-nowhere"], "delta": 1}, 404, "unknown_packages"),
        ({"ids": ["KNOWN"]}, 400, "invalid"),
        ({"ids": ["KNOWN"], "delta": 1, "price": 5}, 400, "invalid"),
        ({"ids": ["KNOWN"], "delta": "1"}, 400, "invalid"),
        ({"ids": ["KNOWN"], "delta": True}, 400, "invalid"),
        ({"ids": ["KNOWN"], "price": 0}, 400, "invalid"),
        ({"ids": [], "delta": 1}, 400, "invalid"),
        ({"ids": "KNOWN", "delta": 1}, 400, "invalid"),
        ({"ids": ["KNOWN"], "delta": 1, "currency": "EUR"}, 400, "unknown_field"),
    ],
)
def test_a_refused_reprice_changes_no_price(
    upstream: Upstream, body: dict[str, Any], status: int, code: str
) -> None:
    known = upstream.sim.package_ids()[0]
    text = json.dumps(body).replace("KNOWN", known)
    before = upstream.snapshot()

    answer = upstream.control("POST", "/packages/reprice", data=text)

    assert (answer.status_code, error_of(answer)["code"]) == (status, code)
    assert upstream.snapshot() == before


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", "", '{"ids": NaN}', "null"])
@pytest.mark.parametrize("path", ["/packages/remove", "/packages/reprice", "/faults/socket"])
def test_a_body_that_is_not_a_json_object_is_400(upstream: Upstream, raw: str, path: str) -> None:
    before = upstream.snapshot()
    answer = upstream.control("POST", path, data=raw, headers={"Content-Type": "application/json"})
    assert (answer.status_code, error_of(answer)["code"]) == (400, "bad_json")
    assert upstream.snapshot() == before


# ---- faults -------------------------------------------------------------------------------------


def test_the_faults_read_back_as_set_socket_faults_as_objects(upstream: Upstream) -> None:
    upstream.sim.faults.random_500_rate = 0.25
    upstream.sim.faults.socket_faults.append(SocketFault("drip", path=PACKAGES, page=2))

    body = upstream.control("GET", "/faults").json()

    assert body["faults"]["random_500_rate"] == 0.25
    assert body["faults"]["fail_page"] is None
    assert body["faults"]["socket_faults"] == [
        {
            "kind": "drip",
            "method": None,
            "path": PACKAGES,
            "page": 2,
            "count": 1,
            "rate": 1.0,
            "cut_at": 0.5,
            "drip_bytes": 1,
            "drip_interval": 0.05,
            "before_response": False,
        }
    ]
    assert "on_page_served" not in body["faults"] and body["on_page_served_installed"] is False


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_a_failing_page_set_over_http_fails_there_and_only_there(upstream: Upstream, method: str) -> None:
    answer = upstream.control(method, "/faults", json={"fail_page": 2, "fail_page_status": 502})

    assert answer.status_code == 200
    assert answer.json()["faults"]["fail_page"] == 2
    assert upstream.roamify(PACKAGES, page=1).status_code == 200
    assert upstream.roamify(PACKAGES, page=2).status_code == 502
    assert upstream.roamify(PACKAGES, page=3).status_code == 200


def test_an_outage_set_over_http_takes_roamify_down_but_not_the_control_api(upstream: Upstream) -> None:
    upstream.control("PATCH", "/faults", json={"outage": True, "rate_limit_remaining_429": 3})

    assert upstream.roamify("/api/health").status_code == 503
    assert upstream.control("GET", "/faults").status_code == 200
    cleared = upstream.control("DELETE", "/faults")

    assert cleared.status_code == 200 and cleared.json()["faults"]["outage"] is False
    assert upstream.roamify("/api/health").status_code == 200
    assert upstream.roamify(PACKAGES).status_code == 200  # the 429s went with the clear


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"fail_page": 2, "outage": "yes"}, "invalid"),  # the valid fail_page is not applied either
        ({"fail_page": 2, "nonsense": 1}, "unknown_field"),
        ({"fail_page": 2.5}, "invalid"),
        ({"fail_page": 0}, "invalid"),
        ({"random_500_rate": 1.5}, "invalid"),
        ({"slow_seconds": -1}, "invalid"),
        ({"outage": 1}, "invalid"),
        ({"rate_limit_remaining_429": True}, "invalid"),
        ({"fail_page_status": 999}, "invalid"),
        ({"on_page_served": None}, "not_settable"),
        ({"socket_faults": [{"kind": "melt"}]}, "invalid"),
        ({"socket_faults": [{"kind": "cut", "colour": "red"}]}, "unknown_field"),
        ({}, "invalid"),
    ],
)
def test_a_refused_switch_change_applies_nothing(upstream: Upstream, body: dict[str, Any], code: str) -> None:
    before = upstream.snapshot()

    answer = upstream.control("PATCH", "/faults", json=body)

    assert (answer.status_code, error_of(answer)["code"]) == (400, code)
    assert upstream.snapshot() == before
    assert upstream.roamify(PACKAGES, page=2).status_code == 200


def test_the_faults_read_over_http_can_be_put_back_as_they_were(upstream: Upstream) -> None:
    upstream.control("PATCH", "/faults", json={"null_record_page": 3})
    upstream.control("POST", "/faults/socket", json={"kind": "reset", "path": PACKAGES, "count": -1})
    saved = upstream.control("GET", "/faults").json()["faults"]
    upstream.control("DELETE", "/faults")

    answer = upstream.control("PUT", "/faults", json=saved)

    assert answer.status_code == 200 and answer.json()["faults"] == saved
    assert upstream.sim.faults.socket_faults == [SocketFault("reset", path=PACKAGES, count=-1)]
    assert upstream.sim.faults.null_record_page == 3


def test_a_socket_cut_added_over_http_cuts_the_body_and_a_clear_ends_it(upstream: Upstream) -> None:
    fault = {"kind": "cut", "method": "get", "path": PACKAGES, "page": 2, "count": -1, "cut_at": 0.3}

    answer = upstream.control("POST", "/faults/socket", json=fault)

    assert answer.status_code == 201
    assert answer.json()["faults"]["socket_faults"][0]["method"] == "GET"
    assert upstream.roamify(PACKAGES, page=1).status_code == 200
    for _ in range(2):  # count -1: every matching answer
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            upstream.roamify(PACKAGES, page=2)

    assert upstream.control("DELETE", "/faults").json()["faults"]["socket_faults"] == []
    assert upstream.roamify(PACKAGES, page=2).status_code == 200


def test_a_socket_reset_before_the_response_added_over_http_creates_no_order(upstream: Upstream) -> None:
    fault = {"kind": "reset", "method": "POST", "path": "/api/esim/order", "before_response": True}
    assert upstream.control("POST", "/faults/socket", json=fault).status_code == 201
    order = {"items": [{"packageId": upstream.sim.package_ids()[0], "quantity": 1}], "referenceId": "r1"}

    with pytest.raises(requests.ConnectionError):
        upstream.session.post(upstream.url + "/api/esim/order", json=order, timeout=10)

    assert upstream.control("GET", "/orders").json() == {"count": 0, "orders": []}


@pytest.mark.parametrize(
    "fault",
    [
        {"path": PACKAGES},  # no kind
        {"kind": "cut", "rate": 2},
        {"kind": "cut", "path": "api/esim/packages"},
        {"kind": "drip", "drip_bytes": 0},
        {"kind": "cut", "page": "2"},
        {"kind": "cut", "before_response": "yes"},
    ],
)
def test_a_refused_socket_fault_is_not_added(upstream: Upstream, fault: dict[str, Any]) -> None:
    answer = upstream.control("POST", "/faults/socket", json=fault)
    assert answer.status_code == 400
    assert upstream.sim.faults.socket_faults == []
    assert upstream.roamify(PACKAGES).status_code == 200


# ---- orders -------------------------------------------------------------------------------------


def test_the_order_log_shows_what_reached_roamify(upstream: Upstream) -> None:
    package_id = upstream.sim.package_ids()[3]
    order = {"items": [{"packageId": package_id, "quantity": 2}], "referenceId": "shop-42"}
    created = upstream.session.post(upstream.url + "/api/esim/order", json=order, timeout=10).json()["data"]

    log = upstream.control("GET", "/orders").json()

    assert log["count"] == 1
    [logged] = log["orders"]
    assert logged == created
    assert logged["referenceId"] == "shop-42"
    assert [item["packageId"] for item in logged["items"]] == [package_id, package_id]


# ---- the CLI ------------------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def sim_cli(upstream: Upstream, *args: str) -> tuple[int, str, str]:
    return cli("sim", "--url", upstream.url, "--key", SIM_KEY, *args)


def test_the_cli_lists_removes_and_restores_packages(upstream: Upstream) -> None:
    chosen = upstream.sim.package_ids()[10:12]

    code, out, _ = sim_cli(upstream, "remove", *chosen)
    assert code == 0 and out.startswith("removed 2 package(s)")
    assert not set(chosen) & upstream.listed_everywhere()

    code, out, _ = sim_cli(upstream, "packages", "--removed")
    assert (code, out.split()) == (0, chosen)
    code, out, _ = sim_cli(upstream, "packages", "--json")
    assert json.loads(out)["ids"] == sorted(upstream.listed_everywhere())

    code, out, _ = sim_cli(upstream, "restore", *chosen, "--json")
    assert (code, json.loads(out)) == (0, {"restored": chosen})
    assert all(upstream.lookup(pid) for pid in chosen)


def test_the_cli_refuses_an_unknown_id_and_changes_nothing(upstream: Upstream) -> None:
    before = upstream.snapshot()
    known = upstream.sim.package_ids()[0]

    code, _, err = sim_cli(upstream, "remove", known, "esim-nowhere")

    assert code == 1
    assert "404 unknown_packages" in err and "esim-nowhere" in err
    assert upstream.snapshot() == before


def test_the_cli_reprices_by_delta_or_to_a_price(upstream: Upstream) -> None:
    first, second = upstream.sim.package_ids()[:2]
    old = upstream.sim.get_package(first)["price"]

    code, out, _ = sim_cli(upstream, "reprice", first, "--delta", "-0.5")
    assert code == 0 and out.split() == [first, f"{old - 0.5:.2f}"]
    code, out, _ = sim_cli(upstream, "reprice", second, "--price", "7.5", "--json")
    assert json.loads(out) == {"prices": {second: 7.5}}
    assert {p["price"] for p in upstream.lookup(second)} == {7.5}
    code, _, err = sim_cli(upstream, "reprice", second)
    assert code == 2 and "exactly one of --delta and --price" in err


def test_the_cli_sets_shows_adds_and_clears_faults(upstream: Upstream) -> None:
    code, out, _ = sim_cli(upstream, "fault", "set", "fail_page=2", "random_500_creates_only=true")
    assert code == 0 and "* fail_page" in out and "outage" not in out  # only what is off its default
    assert upstream.roamify(PACKAGES, page=2).status_code == 500

    code, _, _ = sim_cli(upstream, "fault", "socket", "--kind", "cut", "--path", PACKAGES, "--page", "1")
    assert code == 0
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        upstream.roamify(PACKAGES, page=1)

    code, out, _ = sim_cli(upstream, "faults", "--json")
    faults = json.loads(out)["faults"]
    assert (faults["fail_page"], faults["random_500_creates_only"]) == (2, True)
    assert faults["socket_faults"][0]["count"] == 0  # spent by the request above
    code, out, _ = sim_cli(upstream, "faults")
    assert code == 0 and "* fail_page" in out and "  outage" in out  # every switch

    code, out, _ = sim_cli(upstream, "fault", "clear")
    assert (code, out.strip()) == (0, "every fault switched off")
    assert upstream.roamify(PACKAGES, page=2).status_code == 200


def test_a_fault_value_that_is_not_json_is_sent_as_text_and_refused_with_nothing_set(
    upstream: Upstream,
) -> None:
    before = upstream.snapshot()

    code, _, err = sim_cli(upstream, "fault", "set", "fail_page=3", "outage=maybe")

    assert code == 1 and "outage must be true or false, not 'maybe'" in err
    assert upstream.snapshot() == before
    code, _, err = sim_cli(upstream, "fault", "set", "fail_page")
    assert code == 2 and "NAME=VALUE" in err


def test_the_cli_shows_the_order_log(upstream: Upstream) -> None:
    package_id = upstream.sim.package_ids()[0]
    order = {"items": [{"packageId": package_id, "quantity": 1}], "referenceId": "cli-ref"}
    upstream.session.post(upstream.url + "/api/esim/order", json=order, timeout=10)

    code, out, _ = sim_cli(upstream, "orders")
    assert code == 0 and "ref cli-ref" in out and package_id in out
    code, out, _ = sim_cli(upstream, "orders", "--json")
    assert [o["referenceId"] for o in json.loads(out)["orders"]] == ["cli-ref"]


def test_the_cli_takes_the_url_and_key_from_the_environment(upstream: Upstream) -> None:
    code, out, _ = cli("sim", "packages", env={"ROAMSYNC_SIM_URL": upstream.url, "ROAMIFY_API_KEY": SIM_KEY})
    assert code == 0 and out.split() == upstream.sim.package_ids()
    code, _, err = cli("sim", "packages", env={"ROAMSYNC_SIM_URL": upstream.url, "ROAMIFY_API_KEY": "old"})
    assert code == 1 and "401 unauthorized" in err


def test_the_cli_says_so_when_no_simulator_answers() -> None:
    sim = RoamifySimulator(size=10, api_key=SIM_KEY)
    with start_server(sim) as server:
        url = server.url
    code, _, err = cli("sim", "--url", url, "--key", SIM_KEY, "packages")  # the server is gone
    assert code == 1 and f"the simulator at {url} does not answer" in err

    code, _, err = cli("sim", "packages", env={"ROAMSYNC_SIM_URL": ""})
    assert code == 1 and "which simulator?" in err


def test_the_cli_says_so_when_the_url_is_a_roamify_without_a_control_api() -> None:
    sim = RoamifySimulator(size=10, api_key=SIM_KEY)
    sim.control = None  # what a real Roamify is, as far as /_sim/ goes
    with start_server(sim) as server:
        code, _, err = cli("sim", "--url", server.url, "--key", SIM_KEY, "faults")
    assert code == 1 and "not a Roamify simulator's control API" in err


def write_state(directory: Path, simulator_url: str | None, roamify_url: str) -> None:
    state = {
        "env": {"ROAMIFY_API_KEY": SIM_KEY, "ROAMIFY_BASE_URL": roamify_url},
        "roamifyBaseUrl": roamify_url,
        "simulatorUrl": simulator_url,
    }
    (directory / ".local").mkdir()
    (directory / ".local" / "stack.json").write_text(json.dumps(state))


def test_local_finds_the_simulator_in_the_stack_state(
    upstream: Upstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_state(tmp_path, upstream.url, upstream.url)
    monkeypatch.chdir(tmp_path)
    for name in ("ROAMIFY_API_KEY", "ROAMIFY_BASE_URL", "ROAMSYNC_SIM_URL", "ROAMSYNC_SIM_KEY"):
        monkeypatch.setenv(name, "")  # --local writes these into os.environ: monkeypatch restores them
    chosen = upstream.sim.package_ids()[0]

    code, out, _ = cli("--local", "sim", "remove", chosen)

    assert code == 0, out
    assert upstream.lookup(chosen) == []


def test_local_with_an_external_roamify_has_no_simulator_to_drive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_state(tmp_path, None, "https://api.roamify.example")
    monkeypatch.chdir(tmp_path)
    for name in ("ROAMIFY_API_KEY", "ROAMIFY_BASE_URL", "ROAMSYNC_SIM_URL", "ROAMSYNC_SIM_KEY"):
        monkeypatch.setenv(name, "")

    code, _, err = cli("--local", "sim", "packages")

    assert code == 1
    assert "talks to https://api.roamify.example" in err and "no simulator to drive" in err
