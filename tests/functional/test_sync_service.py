"""Catalog sync against moto's DynamoDB and the Roamify simulator: what lands in the tables."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import boto3
import pytest

from roamsync.adapters.dynamo import PackageRepository, RunRepository
from roamsync.container import Container
from roamsync.domain.errors import StorageError
from roamsync.domain.packages import package_uuid
from roamsync.domain.runs import ABANDONED, RUN_LEASE, Run, RunKind, RunStatus, Trigger
from roamsync.services.sync import SyncOutcome, new_sync_run, run_sync
from tests.conftest import REGION, TABLE_NAMES
from tests.fakes.dynamo import CountingBatchSend


def sync(container: Container, repo: PackageRepository | None = None, runs=None, **kwargs) -> SyncOutcome:
    return run_sync(
        source=container.roamify,
        packages=repo or container.packages,
        runs=runs or container.runs,
        clock=container.clock,
        max_deactivation_ratio=container.settings.sync_max_deactivation_ratio,
        page_size=50,
        trigger=Trigger.CLI,
        **kwargs,
    )


def counting_repo(container: Container, **inject) -> tuple[PackageRepository, CountingBatchSend]:
    base = container.packages
    counter = CountingBatchSend(base.default_send, base.table_name, **inject)
    return PackageRepository(send=counter, max_attempts=5, base_backoff_ms=1), counter


def table_items() -> list[dict]:
    client = boto3.client("dynamodb", region_name=REGION)
    items: list[dict] = []
    kwargs: dict = {"TableName": TABLE_NAMES["PackagesTable"]}
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def by_id(items: list[dict]) -> dict[str, dict]:
    return {i["reseller_id"]["S"]: i for i in items}


def test_first_sync_writes_every_package_once_in_batches_of_25(container, simulator):
    repo, counter = counting_repo(container)
    n = len(simulator.package_ids())

    outcome = sync(container, repo)

    items = table_items()
    assert outcome.run.status is RunStatus.SUCCEEDED
    assert len(items) == n
    assert {i["reseller_id"]["S"] for i in items} == set(simulator.package_ids())
    assert all(i["id"]["S"] == package_uuid(i["reseller_id"]["S"]) for i in items)
    assert counter.calls == math.ceil(n / 25)
    assert counter.items_sent == n
    assert outcome.run.counts["inserted"] == n


def test_ids_are_stable_across_runs(container, simulator):
    sync(container)
    first = {k: v["id"]["S"] for k, v in by_id(table_items()).items()}
    simulator.change_prices(simulator.package_ids()[:10], delta=2.0)
    sync(container)
    second = {k: v["id"]["S"] for k, v in by_id(table_items()).items()}
    assert first == second


def test_a_no_op_resync_writes_zero_package_items(container):
    sync(container)
    repo, counter = counting_repo(container)

    outcome = sync(container, repo)

    assert counter.items_sent == 0 and counter.calls == 0
    assert outcome.run.counts["unchanged"] == outcome.run.counts["fetched"]
    assert outcome.run.status is RunStatus.SUCCEEDED


def test_changing_k_packages_writes_exactly_k(container, simulator):
    sync(container)
    changed = simulator.package_ids()[:7]
    simulator.change_prices(changed, delta=1.5)
    repo, counter = counting_repo(container)

    outcome = sync(container, repo)

    assert counter.items_sent == 7
    assert outcome.run.counts["updated"] == 7
    stored = by_id(table_items())
    before = {pid: float(simulator.get_package(pid)["price"]) for pid in changed}
    assert all(float(stored[pid]["price"]["N"]) == pytest.approx(before[pid]) for pid in changed)


def test_packages_removed_upstream_are_deactivated_and_kept(container, simulator):
    sync(container)
    removed = simulator.remove_fraction(0.05, seed=3)

    outcome = sync(container)

    stored = by_id(table_items())
    inactive = {k for k, v in stored.items() if v["status"]["S"] == "inactive"}
    assert inactive == set(removed)
    assert len(stored) == 200  # nothing deleted
    assert all("deactivated_at" in stored[k] for k in removed)
    assert outcome.run.counts["deactivated"] == len(removed)


def test_packages_that_come_back_are_reactivated(container, simulator):
    sync(container)
    removed = simulator.remove_fraction(0.05, seed=3)
    sync(container)
    simulator.restore_packages(removed)

    outcome = sync(container)

    stored = by_id(table_items())
    assert all(stored[k]["status"]["S"] == "active" for k in removed)
    assert outcome.run.counts["reactivated"] == len(removed)


def test_removing_60_percent_is_refused_and_changes_nothing(container, simulator):
    sync(container)
    before = table_items()
    simulator.remove_fraction(0.6, seed=1)
    repo, counter = counting_repo(container)

    outcome = sync(container, repo)

    assert outcome.run.status is RunStatus.REFUSED
    assert outcome.run.reason == "deactivation_ratio_exceeded"
    assert "would be deactivated" in (outcome.run.error or "")
    assert counter.calls == 0
    assert sorted(map(str, before)) == sorted(map(str, table_items()))
    saved = container.runs.get(outcome.run.run_id)
    assert saved is not None and saved.status is RunStatus.REFUSED


def test_removing_60_percent_applies_when_forced(container, simulator):
    sync(container)
    removed = simulator.remove_fraction(0.6, seed=1)

    outcome = sync(container, force=True)

    assert outcome.run.status is RunStatus.SUCCEEDED
    assert outcome.run.reason == "forced_over_deactivation_ratio_exceeded"
    inactive = {k for k, v in by_id(table_items()).items() if v["status"]["S"] == "inactive"}
    assert inactive == set(removed)


def test_a_failed_page_changes_nothing_and_fails_the_run_with_the_reason(container, simulator):
    sync(container)
    simulator.remove_fraction(0.05, seed=2)
    simulator.change_prices(simulator.package_ids()[:3])
    before = table_items()
    simulator.faults.fail_page = 3

    outcome = sync(container)

    assert outcome.run.status is RunStatus.FAILED
    assert outcome.run.reason == "incomplete_snapshot"
    assert "page 3" in (outcome.run.error or "")
    assert sorted(map(str, before)) == sorted(map(str, table_items()))
    assert container.runs.get(outcome.run.run_id).status is RunStatus.FAILED


def test_a_forced_sync_over_a_failed_page_deactivates_nothing(container, simulator):
    sync(container)
    simulator.faults.fail_page = 2

    outcome = sync(container, force=True)

    assert outcome.run.status is RunStatus.PARTIAL
    assert outcome.run.counts["deactivated"] == 0
    assert all(v["status"]["S"] == "active" for v in table_items())


def test_an_empty_snapshot_is_refused(container, simulator):
    sync(container)
    simulator.remove_packages(simulator.package_ids())

    outcome = sync(container)

    assert outcome.run.status is RunStatus.REFUSED
    assert outcome.run.reason == "empty_snapshot"
    assert all(v["status"]["S"] == "active" for v in table_items())


def test_unprocessed_items_are_retried_until_written(container, simulator):
    repo, counter = counting_repo(container, unprocessed_per_call=5, inject_calls=4)

    outcome = sync(container, repo)

    assert outcome.run.status is RunStatus.SUCCEEDED
    assert counter.items_held_back == 20
    assert counter.items_sent == 200
    assert {i["reseller_id"]["S"] for i in table_items()} == set(simulator.package_ids())
    assert counter.calls == math.ceil(200 / 25) + 4


def test_unprocessed_items_that_never_clear_fail_the_run_loudly(container):
    repo, counter = counting_repo(container, unprocessed_per_call=1, inject_calls=-1)

    outcome = sync(container, repo)

    assert outcome.run.status is RunStatus.FAILED
    assert outcome.run.reason == "storage_error"
    assert "unprocessed after 5 attempts" in (outcome.run.error or "")
    assert counter.calls == 5  # the first batch, then its bounded retries


def test_malformed_records_are_skipped_and_counted_and_the_rest_syncs(container, simulator):
    from roamsync_dev.simulator import malformed_packages

    # Missing packageId, wrong types, a numeric id, and a data unit nobody defines.
    bad = [{**r, "dataUnit": "parsecs"} if r.get("dataUnit") == "TB" else r for r in malformed_packages()]
    simulator.inject_raw_packages(1, bad)

    outcome = sync(container)

    assert outcome.run.status is RunStatus.SUCCEEDED
    assert outcome.run.counts["skipped"] == len(bad)
    assert len(table_items()) == 200
    assert sum(outcome.run.details["skipReasons"].values()) == len(bad)


def test_a_dry_run_computes_the_plan_and_writes_nothing(container, simulator):
    repo, counter = counting_repo(container)

    outcome = sync(container, repo, dry_run=True)

    assert outcome.run.status is RunStatus.DRY_RUN
    assert outcome.run.planned["inserted"] == 200
    assert outcome.run.counts["inserted"] == 0  # a dry run writes nothing
    assert counter.calls == 0
    assert table_items() == []
    assert container.runs.latest(RunKind.SYNC) == []
    assert len(outcome.preview()["samples"]["inserted"]) == 5


def test_a_rotated_roamify_key_fails_the_run_without_touching_the_catalog(container, simulator):
    sync(container)
    simulator.api_key = "rotated"

    outcome = sync(container)

    assert outcome.run.status is RunStatus.FAILED
    assert outcome.run.reason == "upstream_auth"
    assert all(v["status"]["S"] == "active" for v in table_items())


def test_every_applied_run_is_recorded_with_counts_and_timings(container):
    outcome = sync(container)

    saved = RunRepository().get(outcome.run.run_id)
    assert saved is not None
    assert saved.status is RunStatus.SUCCEEDED and saved.finished_at is not None
    assert set(saved.counts) >= {
        "fetched",
        "inserted",
        "updated",
        "unchanged",
        "deactivated",
        "reactivated",
        "skipped",
    }
    assert set(saved.timings_ms) == {"fetch", "read", "diff", "write"}
    assert saved.planned == {
        k: saved.counts[k] for k in ("inserted", "updated", "deactivated", "reactivated")
    }
    assert container.runs.latest(RunKind.SYNC)[0].run_id == saved.run_id


def test_a_pending_run_is_claimed_by_one_worker_only(container):
    run = new_sync_run(container.clock, Trigger.API)
    container.runs.save(run)
    first = container.runs.get(run.run_id)
    second = container.runs.get(run.run_id)

    assert container.runs.claim(first) is True
    assert container.runs.claim(second) is False
    assert container.runs.get(run.run_id).status is RunStatus.RUNNING


# ---- run leases: no run stays pending or running once nothing can finish it -----------------------


class FailingRuns:
    """The Runs table refusing its `failing` saves (1-based, as DynamoDB past the SDK's retries)."""

    def __init__(self, store: RunRepository, failing: set[int]) -> None:
        self.store, self.failing, self.saves = store, failing, 0

    def save(self, run: Run, *, expected_status: RunStatus | None = None) -> None:
        self.saves += 1
        if self.saves in self.failing:
            raise StorageError("PutItem on Runs failed: throughput exceeded")
        self.store.save(run, expected_status=expected_status)

    def get(self, run_id: str) -> Run | None:
        return self.store.get(run_id)

    def latest(self, kind: RunKind, limit: int = 10) -> list[Run]:
        return self.store.latest(kind, limit)


def stored_run(run_id: str) -> dict:
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=TABLE_NAMES["RunsTable"], Key={"run_id": {"S": run_id}}
    )["Item"]
    return {"status": item["status"]["S"], **json.loads(item["record"]["S"])}


def at(moment: datetime) -> RunRepository:
    return RunRepository(clock=lambda: moment)


def test_a_sync_that_cannot_record_its_start_writes_no_package(container):
    outcome = sync(container, runs=FailingRuns(container.runs, {1}))

    assert (outcome.run.status, outcome.run.reason) == (RunStatus.FAILED, "storage_error")
    assert table_items() == []


def test_a_lost_finishing_record_keeps_the_writes_and_is_settled_after_the_lease(container, simulator):
    outcome = sync(container, runs=FailingRuns(container.runs, {2}))
    started = outcome.run.started_at

    assert outcome.run.status is RunStatus.SUCCEEDED and outcome.recorded is False
    assert len(table_items()) == len(simulator.package_ids())
    assert stored_run(outcome.run.run_id)["status"] == "running"
    assert at(started + RUN_LEASE - timedelta(seconds=30)).get(outcome.run.run_id).status is RunStatus.RUNNING

    later = at(started + RUN_LEASE + timedelta(minutes=5))
    [seen] = later.latest(RunKind.SYNC)
    assert (seen.status, seen.reason) == (RunStatus.FAILED, ABANDONED)
    assert seen.finished_at is not None and seen.finished_at <= started + RUN_LEASE + timedelta(seconds=5)
    stored = stored_run(outcome.run.run_id)
    assert (stored["status"], stored["reason"], stored["lease_until"]) == ("failed", ABANDONED, None)


def test_an_abandoned_pending_run_can_no_longer_be_claimed(container):
    run = new_sync_run(container.clock, Trigger.API)
    container.runs.save(run)
    late = at(run.started_at + RUN_LEASE + timedelta(seconds=1))

    settled = late.get(run.run_id)
    assert settled is not None and settled.status is RunStatus.FAILED
    assert late.claim(Run.model_validate({**run.model_dump(), "status": "pending"})) is False
    assert stored_run(run.run_id)["status"] == "failed"


def test_each_save_of_an_unfinished_run_renews_its_lease(container):
    run = new_sync_run(container.clock, Trigger.API)
    start = run.started_at
    at(start).save(run)
    run.status = RunStatus.RUNNING
    at(start + timedelta(minutes=10)).save(run)  # e.g. the worker's claim, 10 minutes later

    assert at(start + timedelta(minutes=20)).get(run.run_id).status is RunStatus.RUNNING
    assert at(start + timedelta(minutes=27)).get(run.run_id).status is RunStatus.FAILED
    run.status, run.finished_at = RunStatus.SUCCEEDED, start
    at(start).save(run)
    assert stored_run(run.run_id)["lease_until"] is None
    assert at(start + timedelta(days=30)).get(run.run_id).status is RunStatus.SUCCEEDED


def test_a_record_without_a_lease_counts_from_its_start(container):
    run = new_sync_run(container.clock, Trigger.API)
    run.status = RunStatus.RUNNING
    container.runs.save(run)
    client = boto3.client("dynamodb", region_name=REGION)
    record = {k: v for k, v in stored_run(run.run_id).items() if k != "lease_until"}
    client.update_item(
        TableName=TABLE_NAMES["RunsTable"],
        Key={"run_id": {"S": run.run_id}},
        UpdateExpression="SET #r = :r",
        ExpressionAttributeNames={"#r": "record"},
        ExpressionAttributeValues={":r": {"S": json.dumps(record)}},
    )

    assert at(run.started_at + RUN_LEASE - timedelta(seconds=1)).get(run.run_id).status is RunStatus.RUNNING
    assert at(run.started_at + RUN_LEASE + timedelta(seconds=1)).get(run.run_id).status is RunStatus.FAILED


def test_a_run_finished_while_being_settled_is_read_again_not_overwritten(container, monkeypatch):
    run = new_sync_run(container.clock, Trigger.API)
    run.status = RunStatus.RUNNING
    container.runs.save(run)
    finished = Run.model_validate({**run.model_dump(), "status": "succeeded", "finished_at": run.started_at})
    real = Run.settle_abandoned

    def finish_first(self: Run) -> None:  # the worker's last write lands between the read and the settle
        container.runs.save(finished)
        real(self)

    monkeypatch.setattr(Run, "settle_abandoned", finish_first)
    seen = at(run.started_at + RUN_LEASE + timedelta(minutes=1)).get(run.run_id)

    assert seen is not None and seen.status is RunStatus.SUCCEEDED
    assert stored_run(run.run_id)["status"] == "succeeded"


# ---- the sparse spanning-region index -----------------------------------------------------------


def test_the_spanning_region_index_holds_only_packages_covering_more_than_their_country(container):
    sync(container)
    catalog = container.packages.load_all()
    spanning = {p.reseller_id for p in catalog.values() if p.spans_beyond_its_country}
    assert spanning and len(spanning) < len(catalog)  # the simulator has both kinds

    indexed = {
        p.reseller_id
        for region in {p.region for p in catalog.values()}
        for p in container.packages.spanning(region)
    }
    assert indexed == spanning
    raw = by_id(table_items())
    assert {rid for rid, item in raw.items() if "spanning_region" in item} == spanning


def test_the_sparse_index_loses_no_candidate_that_could_cover_the_destination(container):
    from roamsync.services.catalog import GLOBAL_REGION, candidate_packages

    sync(container)
    catalog = container.packages.load_all()
    for original in list(catalog.values())[::7]:
        for destination in sorted(original.coverage)[:2]:
            regions = {original.region, GLOBAL_REGION}
            whole_region = [
                p for p in catalog.values() if p.region in regions or p.country_code == destination
            ]
            found = candidate_packages(original, destination, container.packages)
            assert {p.reseller_id for p in found if destination in p.coverage} == {
                p.reseller_id for p in whole_region if destination in p.coverage
            }, (original.reseller_id, destination)


def test_items_written_before_the_index_are_rewritten_once_by_the_next_sync(container):
    sync(container)
    spanning = [p.reseller_id for p in container.packages.load_all().values() if p.spans_beyond_its_country][
        :3
    ]
    client = boto3.client("dynamodb", region_name=REGION)
    for rid in spanning:  # as an older roamsync wrote them
        client.update_item(
            TableName=TABLE_NAMES["PackagesTable"],
            Key={"reseller_id": {"S": rid}},
            UpdateExpression="REMOVE spanning_region",
        )
    region = container.packages.get(spanning[0]).region
    assert spanning[0] not in {p.reseller_id for p in container.packages.spanning(region)}

    repo, counter = counting_repo(container)
    outcome = sync(container, repo)

    assert outcome.run.counts["updated"] == len(spanning)
    assert counter.items_sent == len(spanning)
    assert spanning[0] in {p.reseller_id for p in container.packages.spanning(region)}
    assert sync(container).run.counts["written"] == 0
