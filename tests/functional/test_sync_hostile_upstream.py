"""The catalog sync against an upstream that misbehaves as production does, through the simulator
over real HTTP and the real client stack: the catalog changing while it is paged, a `null` inside a
full page, a body cut off at the socket, numbers no store can hold, two syncs at once.

Each test asserts what lands in the Packages and Runs tables, and never a run left `running`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from roamsync.container import Container, set_container, sync_catalog
from roamsync.domain.runs import Trigger
from roamsync.settings import reset_settings
from roamsync_dev import lambda_runtime
from roamsync_dev.simulator import SocketFault, out_of_range_packages
from tests.conftest import make_settings
from tests.fakes.faults import scan_items
from tests.fakes.my_packages import shop_row
from tests.functional.test_nightly import SCHEDULED_EVENT

PAGE_SIZE = 50


@pytest.fixture(params=[1, 4], ids=["sequential", "4-concurrent"])
def shop(request: pytest.FixtureRequest, aws: None, simulator: Any) -> Iterator[Container]:
    """A container reading the catalog one page at a time, or four at a time."""
    container = Container(make_settings(simulator.url, roamify_page_concurrency=request.param))
    set_container(container)
    try:
        yield container
    finally:
        set_container(None)
        reset_settings()


def packages() -> dict[str, dict[str, Any]]:
    return {i["reseller_id"]["S"]: i for i in scan_items("PackagesTable")}


def inactive() -> set[str]:
    return {rid for rid, item in packages().items() if item["status"]["S"] == "inactive"}


def sync_runs() -> list[dict[str, Any]]:
    runs = [json.loads(i["record"]["S"]) for i in scan_items("RunsTable") if i["kind"]["S"] == "sync"]
    return sorted(runs, key=lambda r: r["started_at"])


def assert_no_run_left_running() -> None:
    assert [r["status"] for r in sync_runs() if r["status"] in ("pending", "running")] == []


def missed_by_shift(before: list[tuple[str, str]], removed_node: str) -> list[str]:
    """The listings a one-page-at-a-time crawl never sees when the first node of page 1 leaves the
    catalog right after page 1 is read: what shifted from page 2 onto page 1."""
    k = sum(1 for slug, _ in before if slug == removed_node)
    return [pid for _, pid in before[PAGE_SIZE : PAGE_SIZE + k]]


# ---- the catalog changing while it is paged ------------------------------------------------------------


def test_a_node_removed_while_paging_deactivates_only_what_roamify_no_longer_lists(
    shop: Container, simulator: Any
) -> None:
    # given a synced catalog, and a country node that leaves Roamify right after page 1 is served
    sync_catalog(shop, Trigger.CLI)
    before = simulator.listings()
    simulator.faults.shift_after_page = 1

    # when the sync pages through it
    outcome = sync_catalog(shop, Trigger.CLI)

    # then no package Roamify still lists is inactive, and the run says what it checked
    gone = set(simulator.shift_removed)
    assert gone, "the node's own packages left the catalog"
    assert inactive() <= gone
    run = sync_runs()[-1]
    assert run["status"] == "succeeded" and outcome.run.status.value == "succeeded"
    counts = run["counts"]
    assert counts["confirmedGone"] == counts["deactivated"] == len(inactive())
    assert counts["unconfirmed"] == 0
    if shop.settings.roamify_page_concurrency == 1:
        # one page at a time, the shifted listings were never seen, yet Roamify still lists them
        listed_once = {pid for pid in simulator.package_ids() if sum(p == pid for _, p in before) == 1}
        missed = set(missed_by_shift(before, before[0][0])) & listed_once
        assert missed and counts["stillListed"] == len(missed)
    assert_no_run_left_running()
    # and the next sync, which no longer sees the node at all, deactivates exactly what left
    sync_catalog(shop, Trigger.CLI)
    assert inactive() == gone


def test_the_nightly_run_never_remaps_a_row_away_from_a_package_the_crawl_missed(
    aws: None, simulator: Any
) -> None:
    # given a shop row on a package that a one-page-at-a-time crawl will miss (it shifts onto page 1)
    shop = Container(make_settings(simulator.url, roamify_page_concurrency=1))
    set_container(shop)
    try:
        sync_catalog(shop, Trigger.CLI)
        before = simulator.listings()
        single = [
            pid for pid in missed_by_shift(before, before[0][0]) if sum(p == pid for _, p in before) == 1
        ]
        target = shop.packages.get(single[0])
        assert target is not None
        shop.my_packages.save(shop_row("row-on-missed", target))
        simulator.faults.shift_after_page = 1

        # when the nightly sync → validate → auto-fix runs
        lambda_runtime.invoke("SyncFunction", SCHEDULED_EVENT)

        # then the package is still active and the row still maps to it, valid
        row = shop.my_packages.get("row-on-missed")
        assert packages()[target.reseller_id]["status"]["S"] == "active"
        assert row is not None and row.reseller_id == target.reseller_id
        assert row.validation_status == "valid"
    finally:
        set_container(None)
        reset_settings()


def test_a_null_in_a_full_page_is_a_skipped_record_not_the_end_of_the_catalog(
    shop: Container, simulator: Any
) -> None:
    # given a null taking one slot of the last full page
    sync_catalog(shop, Trigger.CLI)
    full_pages = simulator.listing_count() // PAGE_SIZE
    simulator.faults.null_record_page = full_pages

    outcome = sync_catalog(shop, Trigger.CLI)

    run = sync_runs()[-1]
    assert inactive() == set()
    assert run["status"] == "succeeded" and outcome.run.counts["deactivated"] == 0
    assert run["details"]["skipReasons"] == {"not_an_object": 1}
    assert run["counts"]["pages"] == full_pages + 1  # the page after it was read too
    assert_no_run_left_running()


# ---- transport faults at the socket ----------------------------------------------------------------------


def test_a_page_cut_off_mid_body_is_retried_and_the_run_succeeds(shop: Container, simulator: Any) -> None:
    simulator.faults.socket_faults = [SocketFault("cut", path="/api/esim/packages", page=2, count=1)]

    outcome = sync_catalog(shop, Trigger.CLI)

    assert simulator.injected_counts["socket cut"] == 1
    assert outcome.run.status.value == "succeeded"
    assert set(packages()) == set(simulator.package_ids())
    assert [r["status"] for r in sync_runs()] == ["succeeded"]


def test_a_page_that_keeps_breaking_off_fails_the_run_with_its_reason_and_changes_nothing(
    shop: Container, simulator: Any
) -> None:
    sync_catalog(shop, Trigger.CLI)
    before = packages()
    simulator.remove_packages(simulator.package_ids()[:3])
    simulator.faults.socket_faults = [SocketFault("cut", path="/api/esim/packages", page=2, count=-1)]

    outcome = sync_catalog(shop, Trigger.CLI)

    run = sync_runs()[-1]
    assert outcome.run.status.value == "failed" and run["status"] == "failed"
    assert run["reason"] == "incomplete_snapshot" and "page 2" in run["error"]
    assert packages() == before
    assert_no_run_left_running()


def test_a_page_reset_mid_answer_is_retried(shop: Container, simulator: Any) -> None:
    simulator.faults.socket_faults = [SocketFault("reset", path="/api/esim/packages", page=3, count=1)]

    outcome = sync_catalog(shop, Trigger.CLI)

    assert simulator.injected_counts["socket reset"] == 1
    assert outcome.run.status.value == "succeeded" and set(packages()) == set(simulator.package_ids())


# ---- numbers no store can hold -----------------------------------------------------------------------------


def test_records_with_out_of_range_numbers_are_skipped_and_the_rest_syncs(
    shop: Container, simulator: Any
) -> None:
    hostile = out_of_range_packages()
    simulator.inject_raw_packages(1, hostile)

    outcome = sync_catalog(shop, Trigger.CLI)

    run = sync_runs()[-1]
    assert outcome.run.status.value == "succeeded" and run["status"] == "succeeded"
    assert run["details"]["skipReasons"] == {"out_of_range": len(hostile)}
    assert set(packages()) == set(simulator.package_ids())


# ---- two syncs at once -------------------------------------------------------------------------------------


def test_two_syncs_at_once_never_write_an_older_price_over_a_newer_one(
    shop: Container, simulator: Any
) -> None:
    # given a synced catalog and a price moved once
    sync_catalog(shop, Trigger.CLI)
    target = simulator.listings()[0][1]
    simulator.change_prices([target], delta=1.0)
    first_page_served = threading.Event()
    release = threading.Event()

    def hold_the_first_page_once(number: int) -> None:
        if number == 1 and not first_page_served.is_set():
            first_page_served.set()
            release.wait(10)

    simulator.faults.on_page_served = hold_the_first_page_once
    slow: dict[str, Any] = {}
    first = threading.Thread(target=lambda: slow.update(outcome=sync_catalog(shop, Trigger.SCHEDULE)))

    # when a sync has read the price, the price moves again, and a second sync runs to the end
    first.start()
    assert first_page_served.wait(10)
    simulator.change_prices([target], delta=1.0)
    newest = simulator.get_package(target)["price"]
    second = sync_catalog(shop, Trigger.API)
    release.set()
    first.join(20)

    # then the table never ends up with the older price after the newer one was written
    stored = float(packages()[target]["price"]["N"])
    if getattr(second, "busy_with", None) is None:
        assert stored == pytest.approx(newest), "an older price was written over a newer one"
    else:
        assert second.busy_with == slow["outcome"].run.run_id
        assert sync_catalog(shop, Trigger.CLI).run.status.value == "succeeded"
        assert float(packages()[target]["price"]["N"]) == pytest.approx(newest)
    assert_no_run_left_running()
