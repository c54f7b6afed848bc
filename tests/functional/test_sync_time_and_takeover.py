"""The sync within its invocation's time and under another's takeover, on moto and the simulator over
HTTP: a worker stops before Lambda would end it, a reader's "abandoned" verdict is never written
over, a refused lock renewal is not a lost lock, and no DynamoDB call can outlast the lock's lease.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from roamsync.container import Container, set_container, sync_catalog
from roamsync.domain.errors import StorageError
from roamsync.domain.runs import RunKind, Trigger
from roamsync.services.sync import FINISH_MARGIN_SECONDS, RENEW_EVERY, SYNC_LOCK_LEASE, start_sync
from roamsync.settings import reset_settings
from roamsync_dev import lambda_runtime
from roamsync_dev.lambda_runtime import FakeLambdaContext
from tests.conftest import make_settings
from tests.fakes.faults import scan_items


class MovableClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def shop(aws: None, simulator: Any) -> Iterator[Container]:
    container = Container(make_settings(simulator.url, roamify_page_concurrency=1))
    set_container(container)
    try:
        yield container
    finally:
        set_container(None)
        reset_settings()


def sync_records() -> list[dict[str, Any]]:
    runs = [json.loads(i["record"]["S"]) for i in scan_items("RunsTable") if i["kind"]["S"] == "sync"]
    return sorted(runs, key=lambda r: r["started_at"])


def lock_item() -> list[dict[str, Any]]:
    return [i for i in scan_items("RunsTable") if i["kind"]["S"] == "lock"]


def test_the_worker_stops_before_its_invocation_would_be_ended(shop: Container, simulator: Any) -> None:
    # given a pending run, and a Roamify answering every request after 0.5 s (6 pages: 3 s)
    started = start_sync(
        runs=shop.runs,
        lock=shop.sync_lock,
        hand_off=lambda run: None,
        clock=shop.clock,
        trigger=Trigger.API,
        force=False,
    )
    assert started.run is not None
    simulator.faults.slow_seconds = 0.5
    timeout = FINISH_MARGIN_SECONDS + 1.5  # the worker has 1.5 s for its work
    context = FakeLambdaContext("SyncFunction", timeout_seconds=timeout)

    # when the worker runs
    t0 = time.monotonic()
    summary = lambda_runtime.invoke(
        "SyncFunction", {"task": "roamsync.sync", "runId": started.run.run_id}, context=context
    )
    elapsed = time.monotonic() - t0

    # then it ended well within the invocation, its run recorded failed / out_of_time, lock released
    assert elapsed < timeout - FINISH_MARGIN_SECONDS / 2, f"ran {elapsed:.1f} s of {timeout:.1f} s"
    [record] = sync_records()
    assert (record["status"], record["reason"]) == ("failed", "out_of_time")
    assert summary["status"] == "failed" and record["finished_at"]
    assert not lock_item(), "the lock was left held"
    assert not scan_items("PackagesTable"), "a sync out of time wrote packages"


def test_a_readers_abandoned_verdict_is_not_written_over_by_the_late_sync(
    shop: Container, simulator: Any
) -> None:
    clock = MovableClock()
    shop.clock = clock
    settled = threading.Event()

    def stall_past_the_run_lease(number: int) -> None:
        if number == 2 and not settled.is_set():
            settled.set()
            clock.advance(timedelta(minutes=17))  # the run's lease (16 minutes) ran out
            [run, *_] = shop.runs.latest(RunKind.SYNC)  # the dashboard reads it: abandoned
            assert run.reason == "abandoned"

    simulator.faults.on_page_served = stall_past_the_run_lease

    outcome = sync_catalog(shop, Trigger.CLI)

    [record] = sync_records()
    assert (record["status"], record["reason"]) == ("failed", "abandoned")
    assert outcome.run.reason == "lock_lost" and not outcome.recorded
    assert not scan_items("PackagesTable"), "the late sync wrote on after losing its run"


def test_a_lock_renewal_dynamodb_refuses_once_does_not_stop_the_sync(shop: Container, simulator: Any) -> None:
    clock = MovableClock()
    shop.clock = clock
    lock = shop.sync_lock
    real_renew = lock.renew
    refused: list[str] = []

    def renew_refused_once(holder: str) -> bool:
        if not refused:
            refused.append(holder)
            raise StorageError("UpdateItem on Runs failed: ProvisionedThroughputExceededException")
        return real_renew(holder)

    lock.renew = renew_refused_once  # type: ignore[method-assign]
    simulator.faults.on_page_served = lambda number: clock.advance(RENEW_EVERY)  # a beat per page

    outcome = sync_catalog(shop, Trigger.CLI)

    assert refused, "the renewal was never tried"
    assert outcome.run.status.value == "succeeded", (outcome.run.reason, outcome.run.error)
    assert len(scan_items("PackagesTable")) == len(simulator.package_ids())


def test_no_dynamodb_call_can_outlast_what_is_left_of_the_lock_lease() -> None:
    """A sync sends a batch only with at least a lease less one renewal interval left: every
    DynamoDB call (its attempts, each bounded by its timeouts) must end within that."""
    from roamsync.adapters.dynamo_models import ALL_MODELS, bind_models

    bind_models(make_settings("http://roamify.invalid"))
    for model in ALL_MODELS.values():
        meta: Any = model.Meta
        attempts = meta.max_retry_attempts + 1
        worst = attempts * (meta.connect_timeout_seconds + meta.read_timeout_seconds)
        assert worst < (SYNC_LOCK_LEASE - RENEW_EVERY).total_seconds(), (model.__name__, worst)
