"""The sync against readings of Roamify that its docs leave open, and answers a hostile upstream
sends, over real HTTP through the simulator: a lookup that ignores its `packageId` filter, a server
serving fewer per page than asked, whatever it answers past the end of the catalog, records whose
ids are lists, text no JSON encoder takes back, numbers whose exponent alone costs minutes, a crawl
that misses a regional plan's listing while its lookup fails, a Retry-After longer than one call.

Each test rewrites the simulator's answers in front of its packages route (`rewrite_packages`), so
the client reads them as Roamify would send them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from werkzeug.wrappers import Request, Response

from roamsync.container import Container, set_container, sync_catalog
from roamsync.domain.runs import Trigger
from roamsync.settings import reset_settings
from roamsync_dev.simulator import RawNumber
from tests.conftest import make_settings
from tests.fakes.faults import scan_items
from tests.functional.test_sync_hostile_upstream import missed_by_shift

PACKAGES = ("GET", "/api/esim/packages")
Handler = Callable[[Request], Response]
GOOD = {
    "package": "Sweden 1GB 7 days",
    "plan": "data-only",
    "activation": "first-use",
    "day": 7,
    "price": 4.5,
    "isUnlimited": False,
    "dataAmount": 1,
    "dataUnit": "GB",
}


def rewrite_packages(sim: Any, rewrite: Callable[[Request, Handler], Response]) -> None:
    """Put `rewrite(request, roamify)` in front of the simulator's packages route."""
    roamify: Handler = sim._routes[PACKAGES]
    sim._routes[PACKAGES] = lambda request: rewrite(request, roamify)


def asked_with(request: Request, handler: Handler, **args: Any) -> Response:
    """What `handler` answers to the same request with these query arguments instead."""
    environ = dict(request.environ)
    environ["QUERY_STRING"] = urlencode({k: v for k, v in args.items() if v is not None})
    return handler(Request(environ))


def json_answer(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def packages() -> dict[str, dict[str, Any]]:
    return {i["reseller_id"]["S"]: i for i in scan_items("PackagesTable")}


def inactive() -> set[str]:
    return {rid for rid, item in packages().items() if item["status"]["S"] == "inactive"}


def coverage(reseller_id: str) -> set[str]:
    return {c["S"] for c in packages()[reseller_id]["coverage"]["L"]}


def last_run() -> dict[str, Any]:
    runs = [json.loads(i["record"]["S"]) for i in scan_items("RunsTable") if i["kind"]["S"] == "sync"]
    return sorted(runs, key=lambda r: r["started_at"])[-1]


@pytest.fixture
def shop_with(aws: None, simulator: Any) -> Iterator[Callable[..., Container]]:
    def build(**overrides: Any) -> Container:
        container = Container(make_settings(simulator.url, **overrides))
        set_container(container)
        return container

    try:
        yield build
    finally:
        set_container(None)
        reset_settings()


# ---- lookups ----------------------------------------------------------------------------------------


def test_a_lookup_that_ignores_its_package_filter_never_deactivates_a_listed_package(
    shop_with: Callable[..., Container], simulator: Any
) -> None:
    # given a synced shop, and a catalog that changes while it is paged (listings shift onto page 3)
    shop = shop_with(roamify_page_concurrency=1)
    sync_catalog(shop, Trigger.CLI)
    before = simulator.listings()
    missed = set(missed_by_shift(before[100:], before[100][0]))
    simulator.faults.shift_after_page = 3

    # when every ?packageId= lookup answers the default first page (the filter dropped on the way)
    def filter_ignored(request: Request, roamify: Handler) -> Response:
        return asked_with(request, roamify) if request.args.get("packageId") else roamify(request)

    rewrite_packages(simulator, filter_ignored)
    sync_catalog(shop, Trigger.CLI)

    # then the packages the crawl missed are kept: an answer listing others proves nothing
    still_listed = set(simulator.package_ids())
    assert missed & still_listed, "the shift made the crawl miss listed packages"
    assert not inactive() & still_listed, sorted(inactive() & still_listed)
    run = last_run()
    assert run["status"] == "succeeded"
    assert run["counts"]["unconfirmed"] >= len(missed & still_listed)


REGIONAL = "esim-africa-adventure-15days-10gb-all"  # listed under its region and three countries


def test_coverage_a_failed_lookup_could_not_confirm_is_kept(
    shop_with: Callable[..., Container], simulator: Any
) -> None:
    shop = shop_with(roamify_page_concurrency=1)
    sync_catalog(shop, Trigger.CLI)
    stored_before = coverage(REGIONAL)
    assert len(stored_before) > 3

    # the crawl misses the regional node's listing of the plan, and its own lookup fails
    def listing_missed(request: Request, roamify: Handler) -> Response:
        if request.args.get("packageId") == REGIONAL:
            return json_answer({"message": "Internal server error", "status": "failed"}, status=500)
        answer = roamify(request)
        if request.args.get("packageId"):
            return answer
        body = json.loads(answer.get_data())
        for node in body["data"]["packages"]:
            if node["countrySlug"] == "africa-adventure":
                node["packages"] = [p for p in node["packages"] if p.get("packageId") != REGIONAL]
        return json_answer(body)

    rewrite_packages(simulator, listing_missed)
    sync_catalog(shop, Trigger.CLI)

    assert coverage(REGIONAL) == stored_before
    run = last_run()
    assert run["status"] == "succeeded" and run["counts"]["unconfirmed"] == 1


# ---- paging -----------------------------------------------------------------------------------------


def test_a_server_serving_fewer_per_page_than_asked_is_read_to_the_end(
    shop_with: Callable[..., Container], simulator: Any
) -> None:
    shop = shop_with(roamify_page_concurrency=1, roamify_page_size=100)

    def capped(request: Request, roamify: Handler) -> Response:  # an undocumented maximum of 50
        size = request.args.get("pageSize")
        if size and int(size) > 50:
            return asked_with(request, roamify, **{**request.args.to_dict(), "pageSize": 50})
        return roamify(request)

    rewrite_packages(simulator, capped)
    sync_catalog(shop, Trigger.CLI)

    assert last_run()["status"] == "succeeded"
    assert set(packages()) == set(simulator.package_ids())


@pytest.mark.parametrize("past_end", ["404", "500", "last page again"])
def test_what_roamify_answers_past_the_end_does_not_fail_a_complete_crawl(
    shop_with: Callable[..., Container], simulator: Any, past_end: str
) -> None:
    shop = shop_with(roamify_page_concurrency=4)
    last = -(-simulator.listing_count() // 50)

    def past_the_end(request: Request, roamify: Handler) -> Response:
        page = int(request.args.get("page", "1"))
        if request.args.get("packageId") or page < last:
            return roamify(request)
        if page == last:
            time.sleep(0.3)  # the short last page answers after the pages asked for beyond it
            return roamify(request)
        if past_end == "last page again":
            return asked_with(request, roamify, page=last, pageSize=request.args.get("pageSize"))
        return json_answer({"message": "page out of range", "status": "failed"}, status=int(past_end))

    rewrite_packages(simulator, past_the_end)
    sync_catalog(shop, Trigger.CLI)

    run = last_run()
    assert run["status"] == "succeeded", (run["reason"], run["error"])
    assert set(packages()) == set(simulator.package_ids())


def test_a_failing_page_right_after_a_full_one_still_fails_the_crawl(
    shop_with: Callable[..., Container], simulator: Any
) -> None:
    shop = shop_with(roamify_page_concurrency=4)
    sync_catalog(shop, Trigger.CLI)
    simulator.faults.fail_page = 3

    sync_catalog(shop, Trigger.CLI)

    run = last_run()
    assert (run["status"], run["reason"]) == ("failed", "incomplete_snapshot")
    assert not inactive()


# ---- records no store or encoder takes ------------------------------------------------------------------


def test_a_record_whose_package_id_is_a_list_is_skipped(
    shop_with: Callable[..., Container], simulator: Any
) -> None:
    shop = shop_with(roamify_page_concurrency=1)
    simulator.inject_raw_packages(1, [{**GOOD, "packageId": ["esim-x"]}])

    sync_catalog(shop, Trigger.CLI)

    run = last_run()
    assert run["status"] == "succeeded", (run["reason"], run["error"])
    assert run["details"]["skipReasons"] == {"invalid_packageId": 1}
    assert set(packages()) == set(simulator.package_ids())


def test_text_no_encoder_takes_back_skips_its_records_not_the_run(
    shop_with: Callable[..., Container], simulator: Any
) -> None:
    shop = shop_with(roamify_page_concurrency=1)

    def lone_surrogate(request: Request, roamify: Handler) -> Response:
        answer = roamify(request)
        if request.args.get("page") != "2":
            return answer
        body = json.loads(answer.get_data())
        body["data"]["packages"][0]["signals"].append({"code": "F\udc80"})  # json.dumps escapes it
        return json_answer(body)

    rewrite_packages(simulator, lone_surrogate)
    sync_catalog(shop, Trigger.CLI)

    run = last_run()
    assert run["status"] == "succeeded", (run["reason"], run["error"])
    assert sum(run["details"]["skipReasons"].values()) >= 1
    assert not inactive()


def test_a_number_whose_exponent_alone_is_huge_is_skipped_at_once(
    shop_with: Callable[..., Container], simulator: Any
) -> None:
    shop = shop_with(roamify_page_concurrency=1)
    simulator.inject_raw_packages(1, [{**GOOD, "packageId": "esim-day-bomb", "day": RawNumber("1e10000000")}])

    started = time.monotonic()
    sync_catalog(shop, Trigger.CLI)
    elapsed = time.monotonic() - started

    run = last_run()
    assert run["status"] == "succeeded" and run["details"]["skipReasons"] == {"out_of_range": 1}
    assert elapsed < 5.0, f"one 14-byte number held the sync {elapsed:.1f} s"


# ---- rate limiting -------------------------------------------------------------------------------------


def test_a_retry_after_longer_than_one_call_is_waited_out_by_a_sync(
    shop_with: Callable[..., Container], simulator: Any
) -> None:
    shop = shop_with(
        roamify_page_concurrency=1,
        roamify_connect_timeout_seconds=0.5,
        roamify_read_timeout_seconds=1.0,
        roamify_max_attempts=4,
    )
    simulator.faults.rate_limit_remaining_429 = 1
    simulator.faults.retry_after_seconds = 3  # longer than one call's whole time (1.5 s here)

    started = time.monotonic()
    outcome = sync_catalog(shop, Trigger.SCHEDULE)

    assert outcome.run.status.value == "succeeded", outcome.run.error
    assert time.monotonic() - started >= 3.0
