"""Health and sync status (roamsync.services.status) over in-memory ports: the score, the catalog
counts, which runs are shown, when a sync is needed, and the short cache of Roamify's health."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from roamsync.domain.runs import Run, RunKind, RunStatus, Trigger
from roamsync.services.nightly import NightlyOutcome
from roamsync.services.status import (
    NEVER_SYNCED,
    NO_ROWS_REASON,
    STALE,
    CachedCheck,
    health_report,
    sync_status,
)
from tests.fakes.my_packages import T0, FakeMyPackages, FakeRuns, catalog_package, shop_row

SCHEDULE = {"ruleName": "nightly", "expression": "cron(0 2 * * ? *)", "enabled": True, "error": None}


class FixedCatalog:
    def __init__(self, active: int, inactive: int) -> None:
        self.counts = (active, inactive)

    def count_by_status(self) -> tuple[int, int]:
        return self.counts


def run(kind: RunKind, status: RunStatus, *, hours_ago: float, minutes: int = 2, **extra: Any) -> Run:
    started = T0 - timedelta(hours=hours_ago)
    finished = started + timedelta(minutes=minutes) if status.finished else None
    return Run(
        kind=kind, trigger=Trigger.SCHEDULE, status=status, started_at=started, finished_at=finished, **extra
    )


def status_of(*runs: Run, now_hours_later: float = 0) -> dict[str, Any]:
    store = FakeRuns()
    for r in runs:
        store.save(r)
    return sync_status(
        runs=store,
        clock=lambda: T0 + timedelta(hours=now_hours_later),
        schedule=SCHEDULE,
        roamify_api_healthy=True,
    )


# ---- health --------------------------------------------------------------------------------------


def test_health_scores_every_row_to_one_decimal_and_counts_the_catalog() -> None:
    package = catalog_package("p1")
    rows = [shop_row(f"v{i}", package, validation_status="valid") for i in range(2)]
    rows += [shop_row("bad", package, validation_status="invalid", validation_reason="inactive")]

    body = health_report(my_packages=FakeMyPackages(rows), runs=FakeRuns(), catalog=FixedCatalog(40, 3))

    assert (body["totalPackages"], body["validPackages"], body["invalidPackages"]) == (3, 2, 1)
    assert body["healthScore"] == 66.7
    assert body["reason"] is None
    assert body["catalog"] == {"active": 40, "inactive": 3}


def test_health_with_no_rows_is_null_and_says_why_rather_than_100() -> None:
    body = health_report(my_packages=FakeMyPackages(), runs=FakeRuns(), catalog=FixedCatalog(5, 0))

    assert body["healthScore"] is None
    assert body["reason"] == NO_ROWS_REASON
    assert body["totalPackages"] == 0 and body["lastValidation"] is None


def test_health_names_when_the_last_validation_finished() -> None:
    runs = FakeRuns()
    done = run(RunKind.VALIDATION, RunStatus.SUCCEEDED, hours_ago=3)
    runs.save(done)
    runs.save(run(RunKind.VALIDATION, RunStatus.RUNNING, hours_ago=0.1))

    body = health_report(my_packages=FakeMyPackages(), runs=runs, catalog=FixedCatalog(0, 0))

    assert body["lastValidation"] == done.finished_at.isoformat()  # type: ignore[union-attr]


# ---- sync status ---------------------------------------------------------------------------------


def test_a_recent_successful_sync_needs_nothing() -> None:
    good = run(RunKind.SYNC, RunStatus.SUCCEEDED, hours_ago=5)
    validation = run(RunKind.VALIDATION, RunStatus.SUCCEEDED, hours_ago=4.9)

    body = status_of(good, validation)

    assert body["lastSync"]["runId"] == good.run_id
    assert body["lastSuccessfulSync"]["runId"] == good.run_id
    assert body["lastValidation"]["runId"] == validation.run_id
    assert body["syncNeeded"] is False and body["syncNeededReasons"] == []
    assert body["schedule"] == SCHEDULE and body["roamifyApiHealthy"] is True


def test_the_run_records_carry_the_documented_fields() -> None:
    body = status_of(run(RunKind.SYNC, RunStatus.SUCCEEDED, hours_ago=1, counts={"fetched": 3}))

    record = body["lastSync"]
    assert {"runId", "status", "trigger", "startedAt", "finishedAt", "durationMs", "counts", "error"} <= set(
        record
    )
    assert record["durationMs"] == 120_000 and record["counts"] == {"fetched": 3}


def test_no_sync_ever_is_a_sync_needed() -> None:
    body = status_of()

    assert body["lastSync"] is None and body["lastValidation"] is None
    assert body["syncNeeded"] is True and body["syncNeededReasons"] == [NEVER_SYNCED]


@pytest.mark.parametrize(("hours_ago", "needed"), [(25.9, False), (26.1, True)])
def test_a_sync_is_needed_once_the_last_good_one_is_older_than_26_hours(
    hours_ago: float, needed: bool
) -> None:
    body = status_of(run(RunKind.SYNC, RunStatus.SUCCEEDED, hours_ago=hours_ago, minutes=0))

    assert body["syncNeeded"] is needed
    assert (STALE in body["syncNeededReasons"]) is needed


@pytest.mark.parametrize("status", [RunStatus.FAILED, RunStatus.REFUSED, RunStatus.PARTIAL])
def test_a_sync_is_needed_when_the_newest_one_did_not_apply(status: RunStatus) -> None:
    good = run(RunKind.SYNC, RunStatus.SUCCEEDED, hours_ago=3)
    bad = run(RunKind.SYNC, status, hours_ago=1, reason="upstream_unavailable")

    body = status_of(good, bad)

    assert body["lastSync"]["runId"] == bad.run_id
    assert body["lastSuccessfulSync"]["runId"] == good.run_id
    assert body["syncNeeded"] is True
    assert body["syncNeededReasons"] == [f"last_sync_{status.value}"]


def test_a_sync_in_progress_is_shown_and_judged_by_the_one_before_it() -> None:
    failed = run(RunKind.SYNC, RunStatus.FAILED, hours_ago=2)
    good = run(RunKind.SYNC, RunStatus.SUCCEEDED, hours_ago=3)
    pending = run(RunKind.SYNC, RunStatus.PENDING, hours_ago=0.01)

    body = status_of(good, failed, pending)

    assert body["lastSync"]["status"] == "pending"
    assert body["syncNeededReasons"] == ["last_sync_failed"]


def test_dry_runs_are_never_the_last_sync() -> None:
    good = run(RunKind.SYNC, RunStatus.SUCCEEDED, hours_ago=3)
    dry = run(RunKind.SYNC, RunStatus.DRY_RUN, hours_ago=1, dry_run=True)

    assert status_of(good, dry)["lastSync"]["runId"] == good.run_id


# ---- the nightly run's verdict (NightlyFailed) ---------------------------------------------------


def test_a_nightly_run_failed_unless_the_sync_applied_and_validation_ran() -> None:
    applied = run(RunKind.SYNC, RunStatus.SUCCEEDED, hours_ago=1)
    refused = run(RunKind.SYNC, RunStatus.REFUSED, hours_ago=1)
    validation: Any = object()  # only its presence matters here

    assert NightlyOutcome(sync=applied, validation=validation, autofix=None).failed is False
    assert NightlyOutcome(sync=refused, validation=validation, autofix=None).failed is True
    assert NightlyOutcome(sync=None, validation=validation, autofix=None).failed is True
    assert NightlyOutcome(sync=applied, validation=None, autofix=None).failed is True
    broken_fix = run(RunKind.AUTOFIX, RunStatus.FAILED, hours_ago=1)
    assert NightlyOutcome(sync=applied, validation=validation, autofix=broken_fix).failed is True


# ---- Roamify reachability cache ------------------------------------------------------------------


class Probe:
    def __init__(self) -> None:
        self.calls = 0
        self.answer = True

    def __call__(self) -> bool:
        self.calls += 1
        return self.answer


def test_roamify_health_is_asked_once_per_ttl_and_then_again() -> None:
    probe, now = Probe(), [100.0]
    check = CachedCheck(probe, ttl_seconds=30, monotonic=lambda: now[0])

    first = check()
    probe.answer = False
    now[0] += 29
    cached = check()
    now[0] += 2
    fresh = check()

    assert (first, cached, fresh) == (True, True, False)
    assert probe.calls == 2
