"""One sync at a time, leases that keep a live sync alive, and run records that say exactly what was
written: the sync on moto's DynamoDB and the Roamify simulator over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from roamsync.adapters.dynamo import PackageRepository, SyncLock
from roamsync.container import Container, sync_catalog
from roamsync.domain.runs import RUN_LEASE, RunKind, RunStatus, Trigger
from roamsync.services.sync import RENEW_EVERY, SYNC_LOCK_LEASE, run_sync
from roamsync_dev import lambda_runtime
from tests.fakes.dynamo import CountingBatchSend
from tests.fakes.faults import scan_items
from tests.functional.test_alarm_metrics import api_event


class MovableClock:
    """A clock tests move forward; every reader (leases, the lock) sees the same time."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock(container: Container) -> MovableClock:
    moving = MovableClock()
    container.clock = moving
    return moving


def packages_by_id() -> dict[str, dict[str, Any]]:
    return {i["reseller_id"]["S"]: i for i in scan_items("PackagesTable")}


def sync_runs() -> list[dict[str, Any]]:
    return [json.loads(i["record"]["S"]) for i in scan_items("RunsTable") if i["kind"]["S"] == "sync"]


# ---- one sync at a time ---------------------------------------------------------------------------


def test_a_sync_started_while_another_holds_the_lock_does_nothing_and_names_the_running_run(
    container: Container, simulator: Any
) -> None:
    # given a first sync, then a price change upstream, and another sync holding the lock
    sync_catalog(container, Trigger.CLI)
    simulator.change_prices(simulator.package_ids()[:3], delta=5.0)
    before = packages_by_id()
    assert container.sync_lock.acquire("run-in-progress") is None

    # when the CLI starts a sync
    outcome = sync_catalog(container, Trigger.CLI)

    # then it did not start: nothing written, no run recorded, the running run named
    assert outcome.busy_with == "run-in-progress"
    assert outcome.run.status is RunStatus.SKIPPED and outcome.run.reason == "sync_in_progress"
    assert packages_by_id() == before
    assert [r["status"] for r in sync_runs()] == ["succeeded"]


def test_the_api_answers_409_sync_in_progress_with_the_running_run_id_and_writes_nothing(
    container: Container,
) -> None:
    assert container.sync_lock.acquire("run-in-progress") is None
    runs_before = scan_items("RunsTable")
    event = {**api_event("POST", "/api/admin/packages/sync"), "body": "{}"}

    answer = lambda_runtime.invoke("SyncFunction", event)

    assert answer["statusCode"] == 409
    error = json.loads(answer["body"])["error"]
    assert error["code"] == "sync_in_progress" and error["runId"] == "run-in-progress"
    assert scan_items("RunsTable") == runs_before


def test_the_cli_says_a_sync_is_running_and_exits_5(container: Container) -> None:
    from roamsync_dev.cli import main

    assert container.sync_lock.acquire("run-in-progress") is None

    result = CliRunner().invoke(main, ["sync", "--json"])

    assert result.exit_code == 5, result.output
    assert json.loads(result.stdout) == {"error": "sync_in_progress", "runId": "run-in-progress"}


def test_the_nightly_run_waits_for_the_running_sync_then_records_itself_skipped(
    container: Container, clock: MovableClock
) -> None:
    # given another sync holding the lock (and renewing it) for longer than the nightly waits
    lock = SyncLock(SYNC_LOCK_LEASE, clock=clock)
    assert lock.acquire("run-in-progress") is None
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(timedelta(seconds=seconds))
        assert lock.renew("run-in-progress")

    # when the nightly sync starts and may wait 60 s
    outcome = run_sync(
        source=container.roamify,
        packages=container.packages,
        runs=container.runs,
        clock=clock,
        max_deactivation_ratio=0.2,
        trigger=Trigger.SCHEDULE,
        lock=container.sync_lock,
        lock_wait_seconds=60,
        record_skip=True,
        sleep=wait,
    )

    # then it waited, polling, and recorded itself skipped with the reason and the running run
    assert sum(waits) == 60 and len(waits) > 1
    assert outcome.busy_with == "run-in-progress"
    [record] = sync_runs()
    assert record["status"] == "skipped" and record["reason"] == "sync_in_progress"
    assert record["details"]["runningRunId"] == "run-in-progress"
    assert scan_items("PackagesTable") == []


def test_a_crashed_holders_lock_expires_and_the_next_sync_runs(
    container: Container, simulator: Any, clock: MovableClock
) -> None:
    # given a holder that stopped renewing its lock
    assert container.sync_lock.acquire("crashed-run") is None
    clock.advance(SYNC_LOCK_LEASE + timedelta(seconds=1))

    outcome = sync_catalog(container, Trigger.CLI)

    assert outcome.busy_with is None and outcome.run.status is RunStatus.SUCCEEDED
    assert len(packages_by_id()) == len(simulator.package_ids())
    assert container.sync_lock.holder() is None, "released at the end"


# ---- leases renewed on progress ---------------------------------------------------------------------


def test_a_slow_but_alive_sync_is_never_seen_abandoned(
    container: Container, simulator: Any, clock: MovableClock
) -> None:
    # given a sync whose every step takes two minutes (more than the renewal interval, less than
    # the lock's lease), twenty minutes in all: longer than a run's lease
    seen: list[str] = []

    def slow(stage: str, done: int, total: int | None) -> None:
        clock.advance(timedelta(minutes=2))
        run = container.runs.latest(RunKind.SYNC, limit=1)[0]  # an operator reading sync-status
        seen.append(run.status.value)

    assert timedelta(minutes=2) > RENEW_EVERY and timedelta(minutes=2) < SYNC_LOCK_LEASE
    outcome = run_sync(
        source=container.roamify,
        packages=container.packages,
        runs=container.runs,
        clock=clock,
        max_deactivation_ratio=0.2,
        lock=container.sync_lock,
        progress=slow,
    )

    # then nobody ever saw it abandoned, and it ended succeeded
    assert clock.now - outcome.run.started_at > RUN_LEASE
    assert set(seen) == {"running"}, seen
    assert outcome.run.status is RunStatus.SUCCEEDED
    assert [r["status"] for r in sync_runs()] == ["succeeded"]


# ---- honest run records -----------------------------------------------------------------------------


def test_a_write_that_fails_part_way_records_what_was_written_and_what_was_not(
    container: Container, simulator: Any
) -> None:
    # given 60 changed packages upstream and DynamoDB refusing the third batch past its retries
    sync_catalog(container, Trigger.CLI)
    changed = simulator.package_ids()[:60]
    simulator.change_prices(changed, delta=3.0)
    base = container.packages
    calls = {"n": 0}

    def send(requests: list[dict[str, Any]]) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] >= 3:  # the third batch never clears
            return {"UnprocessedItems": {base.table_name: requests}}
        return base.default_send(requests)

    repo = PackageRepository(send=CountingBatchSend(send, base.table_name), max_attempts=3, base_backoff_ms=1)

    outcome = run_sync(
        source=container.roamify,
        packages=repo,
        runs=container.runs,
        clock=container.clock,
        max_deactivation_ratio=0.2,
        lock=container.sync_lock,
    )

    # then the run is failed and says exactly: 50 written, 10 not, 60 planned
    stored = packages_by_id()
    now_priced = sum(
        1 for rid in changed if float(stored[rid]["price"]["N"]) == float(simulator.get_package(rid)["price"])
    )
    counts, record = outcome.run.counts, container.runs.get(outcome.run.run_id)
    assert outcome.run.status is RunStatus.FAILED and outcome.run.reason == "storage_error"
    assert now_priced == 50
    assert (counts["updated"], counts["written"], counts["notWritten"]) == (50, 50, 10)
    assert outcome.run.planned["updated"] == 60
    assert record is not None and record.counts == counts and record.planned == outcome.run.planned


def test_a_refused_sync_shows_what_it_would_have_changed_apart_from_what_it_changed(
    container: Container, simulator: Any
) -> None:
    sync_catalog(container, Trigger.CLI)
    removed = simulator.remove_fraction(0.5, seed=4)

    outcome = sync_catalog(container, Trigger.CLI)

    record = container.runs.get(outcome.run.run_id)
    assert record is not None and record.status is RunStatus.REFUSED
    assert record.planned["deactivated"] == len(removed)
    assert record.counts["deactivated"] == 0 and record.counts.get("written", 0) == 0
    assert all(i["status"]["S"] == "active" for i in scan_items("PackagesTable"))


class ExplodingPackages:
    """The Packages table whose read-back raises what no adapter expects."""

    def __init__(self, real: PackageRepository) -> None:
        self.real = real

    def load_stored(self, progress: Any = None) -> Any:
        raise KeyError("a bug")

    def get_many(self, ids: Any) -> Any:
        return self.real.get_many(ids)

    def write(self, packages: Any, *, on_written: Any = None) -> int:
        return self.real.write(packages, on_written=on_written)


def test_an_unexpected_error_ends_the_run_failed_with_the_reason_and_releases_the_lock(
    container: Container,
) -> None:
    outcome = run_sync(
        source=container.roamify,
        packages=ExplodingPackages(container.packages),
        runs=container.runs,
        clock=container.clock,
        max_deactivation_ratio=0.2,
        lock=container.sync_lock,
    )

    [record] = sync_runs()
    assert outcome.run.status is RunStatus.FAILED and outcome.run.reason == "internal_error"
    assert record["status"] == "failed" and "KeyError" in record["error"]
    assert container.sync_lock.holder() is None
