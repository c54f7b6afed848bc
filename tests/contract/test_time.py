"""What the time-aware stores must both do against one clock: run leases, cache expiry and
generations."""

from __future__ import annotations

from typing import Any

from roamsync.domain.runs import ABANDONED, RUN_LEASE, Run, RunKind, RunStatus, Trigger
from tests.fakes.catalog import FakeClock


def _running(clock: FakeClock, run_id: str = "run-1") -> Run:
    return Run(
        run_id=run_id, kind=RunKind.SYNC, trigger=Trigger.API, status=RunStatus.RUNNING, started_at=clock()
    )


# ---- run leases ------------------------------------------------------------------------------------


def test_saving_an_unfinished_run_renews_its_lease_from_now(timed_runs: Any, clock: FakeClock) -> None:
    run = _running(clock)
    clock.advance(60)
    timed_runs.save(run)

    assert timed_runs.get("run-1").lease_until == clock() + RUN_LEASE


def test_a_run_past_its_lease_reads_back_failed_as_abandoned(timed_runs: Any, clock: FakeClock) -> None:
    timed_runs.save(_running(clock))
    clock.advance(RUN_LEASE.total_seconds() - 1)
    assert timed_runs.get("run-1").status == RunStatus.RUNNING

    clock.advance(2)
    settled = timed_runs.get("run-1")
    assert (settled.status, settled.reason) == (RunStatus.FAILED, ABANDONED)
    assert [r.status for r in timed_runs.latest(RunKind.SYNC)] == [RunStatus.FAILED]


def test_a_late_writer_cannot_flip_an_abandoned_run_back(timed_runs: Any, clock: FakeClock) -> None:
    run = _running(clock)
    timed_runs.save(run)
    clock.advance(RUN_LEASE.total_seconds() + 1)
    timed_runs.get("run-1")  # a reader settles it

    late = run.model_copy(update={"status": RunStatus.SUCCEEDED, "finished_at": clock()})
    try:
        timed_runs.save(late, expected_status=RunStatus.RUNNING)
    except Exception as exc:
        assert type(exc).__name__ == "Conflict"
    else:
        raise AssertionError("the late save went through")
    assert timed_runs.get("run-1").reason == ABANDONED


# ---- the validation cache --------------------------------------------------------------------------


def test_a_put_reads_back_until_its_ttl_runs_out(cache: Any, clock: FakeClock) -> None:
    cache.put("k", {"valid": True, "count": 2}, ttl_seconds=30)

    assert cache.get("k").result == {"valid": True, "count": 2}
    assert cache.get("other") is None
    clock.advance(29)
    assert cache.get("k") is not None
    clock.advance(1)
    assert cache.get("k") is None


def test_a_ttl_counts_in_whole_seconds_as_dynamodb_ttl_does(cache: Any, clock: FakeClock) -> None:
    cache.put("k", {"valid": True}, ttl_seconds=10.5)

    clock.advance(10.2)
    assert cache.get("k") is None


def test_a_ttl_of_zero_stores_nothing(cache: Any) -> None:
    cache.put("k", {"valid": True}, ttl_seconds=0)

    assert cache.get("k") is None


def test_a_clear_moves_to_a_new_generation_and_hides_every_earlier_result(cache: Any) -> None:
    before = cache.generation()
    cache.put("k", {"valid": True}, ttl_seconds=60)

    after = cache.clear()

    assert after == before + 1 == cache.generation()
    assert cache.get("k") is None
    assert cache.get("k", generation=before) is not None


def test_a_result_put_under_the_generation_read_before_a_clear_is_never_read(cache: Any) -> None:
    read = cache.generation()
    cache.clear()

    cache.put("k", {"valid": False}, ttl_seconds=60, generation=read)

    assert cache.get("k") is None


def test_a_read_result_is_a_copy(cache: Any) -> None:
    cache.put("k", {"valid": True, "nested": {"n": 1}}, ttl_seconds=60)

    cache.get("k").result["nested"]["n"] = 2

    assert cache.get("k").result == {"valid": True, "nested": {"n": 1}}
