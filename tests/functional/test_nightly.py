"""The nightly run, driven by the scheduled event `sam local generate-event cloudwatch scheduled-event`
produced (events/schedule.json), through SyncFunction's handler on moto and the Roamify simulator."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

from roamsync import self_healing
from roamsync.container import Container, sync_catalog
from roamsync.domain.equivalence import is_equivalent_or_better
from roamsync.domain.mapping import choose_fix
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.packages import Package
from roamsync.domain.runs import Trigger
from roamsync.services.catalog import destination_of
from roamsync_dev import lambda_runtime
from tests.conftest import REGION, TABLE_NAMES
from tests.fakes.my_packages import dedupe_scenario, shop_row

EVENTS = Path(__file__).resolve().parents[2] / "events"
SCHEDULED_EVENT: dict[str, Any] = json.loads((EVENTS / "schedule.json").read_text())


def run_records() -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name=REGION)
    items = client.scan(TableName=TABLE_NAMES["RunsTable"])["Items"]
    return [json.loads(i["record"]["S"]) for i in items if i["kind"]["S"] != "run_changes"]


def new_records(before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen = {r["run_id"] for r in before}
    return [r for r in run_records() if r["run_id"] not in seen]


def a_fixable_row(container: Container) -> tuple[MyPackage, Package]:
    """A shop row for a catalog package that has an equivalent-or-better, no dearer replacement."""
    catalog = [p for p in container.packages.load_all().values() if p.status == "active"]
    for package in sorted(catalog, key=lambda p: p.reseller_id):
        row = shop_row("mine", package, sale_price=str(package.price * 2))
        destination = destination_of(package, row)
        assert destination is not None
        others = [p for p in catalog if p.reseller_id != package.reseller_id]
        if choose_fix(row, package, others, destination, max_price_increase=Decimal("0.10")):
            return row, package
    raise AssertionError("the simulator's catalog has no fixable package")


def emf_metrics(stdout: str) -> dict[str, Any]:
    """The metrics Powertools printed (CloudWatch embedded metric format), by name."""
    metrics: dict[str, Any] = {}
    for line in stdout.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = document[metric["Name"]]
                    value = value[0] if isinstance(value, list) and len(value) == 1 else value
                    metrics[metric["Name"]] = (value, metric.get("Unit"))
    return metrics


def test_the_scheduled_event_runs_a_sync_a_validation_and_an_auto_fix(
    container: Container, simulator, capsys: pytest.CaptureFixture[str]
):
    # given the shop sells a package that Roamify has since stopped listing
    sync_catalog(container, Trigger.CLI)
    row, package = a_fixable_row(container)
    container.my_packages.save(row)
    simulator.remove_packages([package.reseller_id])
    before = run_records()

    # when the nightly schedule's event reaches the sync function
    summary = lambda_runtime.invoke("SyncFunction", SCHEDULED_EVENT)

    # then three runs were recorded, one of each kind, all triggered by the schedule
    records = new_records(before)
    assert Counter(r["kind"] for r in records) == {"sync": 1, "validation": 1, "autofix": 1}
    assert {r["trigger"] for r in records} == {"schedule"}
    assert {r["status"] for r in records} == {"succeeded"}
    # and the row now maps to an active package at least as good, as the answer says
    fixed = container.my_packages.get("mine")
    assert fixed is not None and fixed.reseller_id != package.reseller_id
    replacement = container.packages.get(fixed.reseller_id or "")
    assert replacement is not None and replacement.status == "active"
    assert is_equivalent_or_better(package, replacement, row.country_code or "", max_price_increase=0.1)
    assert summary["status"] == "succeeded" and summary["trigger"] == "schedule"
    assert summary["validation"]["counts"]["fixed"] == 1
    assert summary["validation"]["health"]["healthScore"] == 100.0
    assert summary["autofix"]["counts"]["fixed"] == 1
    # and an operator can alarm on what happened
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics["HealthScore"] == (100.0, "Percent")
    assert metrics["InvalidMappings"] == (0, "Count")
    assert metrics["FixesApplied"] == (1, "Count")


def test_the_admin_handler_publishes_the_duplicates_it_removed(
    container: Container, capsys: pytest.CaptureFixture[str]
):
    rows, packages, _, _ = dedupe_scenario()
    container.packages.write(packages.values())
    for row in rows:
        container.my_packages.save(row)
    event = json.loads((EVENTS / "dedupe-api-dry-run.json").read_text())

    response = lambda_runtime.invoke("AdminFunction", {**event, "body": json.dumps({"dryRun": False})})

    assert response["statusCode"] == 200
    assert json.loads(response["body"])["removedCount"] == 8
    assert emf_metrics(capsys.readouterr().out)["DuplicatesRemoved"] == (8, "Count")


def test_with_the_sync_refused_validation_still_reports_and_auto_fix_changes_nothing(
    container: Container, simulator
):
    # given a row mapped to a package the last good sync deactivated, already found invalid
    sync_catalog(container, Trigger.CLI)
    row, package = a_fixable_row(container)
    container.my_packages.save(row)
    simulator.remove_packages([package.reseller_id])
    sync_catalog(container, Trigger.CLI)
    self_healing.validate(container, Trigger.CLI, fix=False, dry_run=False)
    rows_before = {r.id: r for r in container.my_packages.all()}
    before = run_records()

    # when most of the catalog vanishes upstream and the nightly run starts
    simulator.remove_fraction(0.6, seed=1)
    summary = lambda_runtime.invoke("SyncFunction", SCHEDULED_EVENT)

    # then the sync is refused, validation reports against the last good catalog, auto-fix is skipped
    records = {r["kind"]: r for r in new_records(before)}
    assert set(records) == {"sync", "validation", "autofix"}
    assert records["sync"]["status"] == "refused"
    assert records["validation"]["status"] == "succeeded"
    assert records["validation"]["counts"]["invalid"] == 1
    assert records["autofix"]["status"] == "skipped"
    assert records["autofix"]["reason"] == "sync_not_applied"
    assert summary["status"] == "refused"
    # and no row changed
    assert {r.id: r for r in container.my_packages.all()} == rows_before
    assert container.my_packages.get("mine").reseller_id == package.reseller_id  # type: ignore[union-attr]
