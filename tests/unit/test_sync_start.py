"""Starting a sync in the background: record the run pending, hand it to a worker, and mark it
failed (lock released) when the hand-off fails. On fakes, sockets off."""

from __future__ import annotations

import pytest

from roamsync.domain.errors import StorageError
from roamsync.domain.runs import Run, RunKind, RunStatus, Trigger
from roamsync.services.sync import start_sync
from tests.fakes.catalog import FakeClock
from tests.fakes.my_packages import FakeRuns
from tests.fakes.sync import FakeSyncLock


class Worker:
    """Takes hand-offs; `broken` makes each one fail as a failed Lambda invoke would."""

    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.received: list[Run] = []

    def __call__(self, run: Run) -> None:
        if self.broken:
            raise RuntimeError("Lambda invoke failed")
        self.received.append(run)


class FailingRuns(FakeRuns):
    def save(self, run: Run, *, expected_status: RunStatus | None = None) -> None:
        raise StorageError("DynamoDB is unavailable")


def test_a_free_lock_gives_a_pending_run_handed_to_the_worker_which_holds_the_lock() -> None:
    runs, lock, worker = FakeRuns(), FakeSyncLock(), Worker()

    started = start_sync(
        runs=runs, lock=lock, hand_off=worker, clock=FakeClock(), trigger=Trigger.API, force=False
    )

    assert started.run is not None and started.busy_with is None and started.failed is None
    assert [r.run_id for r in worker.received] == [started.run.run_id]
    assert [r.status for r in runs.of_kind(RunKind.SYNC)] == [RunStatus.PENDING]
    assert lock.holder == started.run.run_id


def test_a_held_lock_writes_nothing_and_names_the_run_holding_it() -> None:
    runs, lock, worker = FakeRuns(), FakeSyncLock(holder="run-before"), Worker()

    started = start_sync(
        runs=runs, lock=lock, hand_off=worker, clock=FakeClock(), trigger=Trigger.API, force=True
    )

    assert started.run is None and started.busy_with == "run-before"
    assert runs.records == {} and worker.received == []
    assert lock.holder == "run-before"


def test_a_failed_hand_off_records_the_run_failed_and_releases_the_lock() -> None:
    runs, lock = FakeRuns(), FakeSyncLock()

    started = start_sync(
        runs=runs,
        lock=lock,
        hand_off=Worker(broken=True),
        clock=FakeClock(),
        trigger=Trigger.API,
        force=False,
    )

    assert started.run is not None and started.failed == "Lambda invoke failed"
    [run] = runs.of_kind(RunKind.SYNC)
    assert (run.status, run.reason) == (RunStatus.FAILED, "invoke_failed")
    assert lock.holder is None


def test_storage_failing_before_the_hand_off_releases_the_lock_and_hands_nothing_off() -> None:
    lock, worker = FakeSyncLock(), Worker()

    with pytest.raises(StorageError):
        start_sync(
            runs=FailingRuns(),
            lock=lock,
            hand_off=worker,
            clock=FakeClock(),
            trigger=Trigger.API,
            force=False,
        )

    assert lock.holder is None and worker.received == []
