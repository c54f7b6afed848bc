"""GET /api/admin/packages/health and /sync-status through the local stack (gateway, authorizer,
AdminFunction, moto's DynamoDB and EventBridge, the simulator) on a seeded data set with known
invalid and inactive rows: every figure equals what a direct read of the tables gives."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests

from roamsync.container import get_container, set_container, sync_catalog
from roamsync.domain.runs import Run, RunKind, RunStatus, Trigger
from roamsync_dev.local_stack import LocalStack
from roamsync_dev.template import LOCAL_STACK_NAME
from tests.fakes.my_packages import shop_row

pytestmark = pytest.mark.e2e

HEALTH = "/api/admin/packages/health"
STATUS = "/api/admin/packages/sync-status"
INACTIVE = 9
ROWS = {"valid": 6, "invalid": 3, None: 2}  # validation_status → rows (None: never validated)


def get(stack: LocalStack, path: str) -> dict[str, Any]:
    response = requests.get(
        f"{stack.gateway_url}{path}", headers={"Authorization": f"Bearer {stack.admin_token}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def scan(stack: LocalStack, table: str) -> list[dict[str, Any]]:
    pages = stack.dynamodb_client().get_paginator("scan").paginate(TableName=stack.table_names[table])
    return [item for page in pages for item in page["Items"]]


def run_records(stack: LocalStack, kind: str) -> list[dict[str, Any]]:
    """Every recorded run of `kind`, newest first, read straight from the Runs table."""
    records = [json.loads(i["record"]["S"]) for i in scan(stack, "RunsTable") if i["kind"]["S"] == kind]
    return sorted((r for r in records if not r["dry_run"]), key=lambda r: r["started_at"], reverse=True)


@pytest.fixture(scope="module")
def seeded(local_stack: LocalStack) -> LocalStack:
    """The first sync's catalog with 9 packages deactivated, 11 shop rows (6 valid, 3 invalid,
    2 never validated) and one finished validation run."""
    container = get_container()
    catalog = sorted(container.packages.load_all().values(), key=lambda p: p.reseller_id)
    gone = [
        p.model_copy(update={"status": "inactive", "deactivated_at": datetime.now(UTC)})
        for p in catalog[:INACTIVE]
    ]
    container.packages.write(gone)
    n = 0
    for status, count in ROWS.items():
        for _ in range(count):
            n += 1
            extra = {"validation_status": status, "validated_at": datetime.now(UTC)} if status else {}
            if status == "invalid":
                extra["validation_reason"] = "package_inactive"
            container.my_packages.save(shop_row(f"row-{n:02d}", catalog[n], **extra))
    now = datetime.now(UTC)
    container.runs.save(
        Run(
            kind=RunKind.VALIDATION,
            trigger=Trigger.API,
            status=RunStatus.SUCCEEDED,
            started_at=now - timedelta(seconds=3),
            finished_at=now,
            counts={"checked": 9, "valid": 6, "invalid": 3},
        )
    )
    return local_stack


def test_health_equals_a_direct_read_of_the_tables(seeded: LocalStack) -> None:
    body = get(seeded, HEALTH)

    # the tables, read directly
    rows = scan(seeded, "MyPackagesTable")
    verdicts = Counter(r.get("validation_status", {}).get("S") for r in rows)
    statuses = Counter(p["status"]["S"] for p in scan(seeded, "PackagesTable"))
    validations = [r for r in run_records(seeded, "validation") if r["finished_at"]]

    assert body["totalPackages"] == len(rows) == sum(ROWS.values())
    assert body["validPackages"] == verdicts["valid"] == ROWS["valid"]
    assert body["invalidPackages"] == verdicts["invalid"] == ROWS["invalid"]
    assert body["unvalidatedPackages"] == verdicts[None] == ROWS[None]
    assert body["healthScore"] == round(100 * verdicts["valid"] / len(rows), 1) == 54.5
    assert body["reason"] is None
    assert body["catalog"] == {"active": statuses["active"], "inactive": statuses["inactive"]}
    assert body["catalog"]["inactive"] == INACTIVE
    assert datetime.fromisoformat(body["lastValidation"]) == datetime.fromisoformat(
        validations[0]["finished_at"]
    )


def test_sync_status_equals_a_direct_read_of_runs_and_the_rule(seeded: LocalStack) -> None:
    body = get(seeded, STATUS)

    syncs = run_records(seeded, "sync")
    validations = run_records(seeded, "validation")
    events = boto3.client("events", region_name=seeded.region, endpoint_url=seeded.dynamodb_endpoint)
    rule = events.describe_rule(Name=f"{LOCAL_STACK_NAME}-nightly")

    assert body["lastSync"]["runId"] == syncs[0]["run_id"]
    assert body["lastSync"]["status"] == syncs[0]["status"] == "succeeded"
    assert body["lastSync"]["counts"] == syncs[0]["counts"]
    assert body["lastValidation"]["runId"] == validations[0]["run_id"]
    assert body["lastValidation"]["counts"] == {"checked": 9, "valid": 6, "invalid": 3}
    assert body["schedule"]["expression"] == rule["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert body["schedule"]["enabled"] is (rule["State"] == "ENABLED")
    assert body["roamifyApiHealthy"] is True
    assert body["syncNeeded"] is False


def test_a_failed_sync_and_a_roamify_outage_show_in_sync_status(seeded: LocalStack) -> None:
    assert seeded.simulator is not None
    seeded.simulator.faults.outage = True
    try:
        failed = sync_catalog(get_container(), Trigger.CLI).run
        set_container(None)  # a fresh container: Roamify's health is not answered from the 30 s cache
        body = get(seeded, STATUS)
    finally:
        seeded.simulator.faults.outage = False
        set_container(None)

    assert failed.status is RunStatus.FAILED
    assert body["lastSync"]["runId"] == failed.run_id == run_records(seeded, "sync")[0]["run_id"]
    assert body["lastSync"]["error"] == failed.error
    assert body["lastSuccessfulSync"]["status"] == "succeeded"
    assert body["roamifyApiHealthy"] is False
    assert body["syncNeeded"] is True and body["syncNeededReasons"] == ["last_sync_failed"]


def test_a_disabled_schedule_shows_in_sync_status(seeded: LocalStack) -> None:
    events = boto3.client("events", region_name=seeded.region, endpoint_url=seeded.dynamodb_endpoint)
    events.disable_rule(Name=f"{LOCAL_STACK_NAME}-nightly")
    try:
        body = get(seeded, STATUS)
    finally:
        events.enable_rule(Name=f"{LOCAL_STACK_NAME}-nightly")

    assert body["schedule"]["enabled"] is False


def test_the_cli_answers_what_the_api_answers(seeded: LocalStack) -> None:
    from click.testing import CliRunner

    from roamsync_dev.cli import main

    health = CliRunner().invoke(main, ["health", "--json"], catch_exceptions=False)
    status = CliRunner().invoke(main, ["status", "--json"], catch_exceptions=False)
    text = CliRunner().invoke(main, ["status"], catch_exceptions=False)

    assert json.loads(health.stdout) == get(seeded, HEALTH)
    via_cli, via_api = json.loads(status.stdout), get(seeded, STATUS)
    for field in (
        "lastSync",
        "lastSuccessfulSync",
        "lastValidation",
        "schedule",
        "roamifyApiHealthy",
        "syncNeeded",
    ):
        assert via_cli[field] == via_api[field], field
    assert via_cli["syncRuns"][0] == via_api["lastSync"]
    assert "sync needed:" in text.stdout and "schedule:" in text.stdout
