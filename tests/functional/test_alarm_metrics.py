"""The metrics the alarms watch, as the handlers really print them (CloudWatch embedded metric format):
same namespace, metric name and dimension set as template.yaml's alarms, or the alarm never fires."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from roamsync.container import Container, sync_catalog
from roamsync.domain.runs import Trigger
from roamsync_dev import lambda_runtime
from roamsync_dev.template import load_template
from tests.fakes.my_packages import shop_row

EVENTS = Path(__file__).resolve().parents[2] / "events"
SCHEDULED_EVENT: dict[str, Any] = json.loads((EVENTS / "schedule.json").read_text())


def api_event(method: str, path: str) -> dict[str, Any]:
    """A REST API proxy event for METHOD path (from the sample admin event)."""
    event: dict[str, Any] = json.loads((EVENTS / "validate-api-dry-run.json").read_text())
    context = dict(event["requestContext"], resourcePath=path, httpMethod=method, path=f"/dev{path}")
    return {
        **event,
        "resource": path,
        "path": path,
        "httpMethod": method,
        "body": None,
        "requestContext": context,
    }


def emf(stdout: str) -> dict[str, tuple[str, dict[str, str], Any]]:
    """Each metric Powertools printed: name → (namespace, its dimensions, value)."""
    found: dict[str, tuple[str, dict[str, str], Any]] = {}
    for line in stdout.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if not (isinstance(document, dict) and "_aws" in document):
            continue
        for directive in document["_aws"]["CloudWatchMetrics"]:
            dimensions = {name: document[name] for names in directive["Dimensions"] for name in names}
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                value = value[0] if isinstance(value, list) and len(value) == 1 else value
                found[metric["Name"]] = (directive["Namespace"], dimensions, value)
    return found


def alarm_on(metric: str) -> tuple[str, dict[str, str]]:
    """The namespace and dimensions of the template's alarm on `metric`."""
    for resource in load_template()["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::CloudWatch::Alarm" and props.get("MetricName") == metric:
            return props["Namespace"], {d["Name"]: d["Value"] for d in props["Dimensions"]}
    raise AssertionError(f"no alarm on {metric}")


def test_reading_health_publishes_the_score_the_alarm_watches(
    container: Container, capsys: pytest.CaptureFixture[str]
):
    sync_catalog(container, Trigger.CLI)
    package = next(iter(container.packages.load_all().values()))
    container.my_packages.save(shop_row("ok", package, validation_status="valid"))
    container.my_packages.save(shop_row("bad", package, validation_status="invalid"))

    response = lambda_runtime.invoke("AdminFunction", api_event("GET", "/api/admin/packages/health"))

    assert response["statusCode"] == 200
    assert json.loads(response["body"])["healthScore"] == 50.0
    namespace, dimensions, value = emf(capsys.readouterr().out)["HealthScore"]
    assert (namespace, dimensions) == alarm_on("HealthScore") == ("Roamsync", {"service": "roamsync"})
    assert value == 50.0


def test_health_with_no_rows_publishes_no_score(container: Container, capsys: pytest.CaptureFixture[str]):
    response = lambda_runtime.invoke("AdminFunction", api_event("GET", "/api/admin/packages/health"))

    assert json.loads(response["body"])["healthScore"] is None
    assert "HealthScore" not in emf(capsys.readouterr().out)


def test_every_nightly_run_publishes_the_heartbeat_and_its_verdict(
    container: Container, simulator, capsys: pytest.CaptureFixture[str]
):
    lambda_runtime.invoke("SyncFunction", SCHEDULED_EVENT)
    good = emf(capsys.readouterr().out)
    simulator.faults.outage = True
    try:
        lambda_runtime.invoke("SyncFunction", SCHEDULED_EVENT)
    finally:
        simulator.faults.outage = False
    bad = emf(capsys.readouterr().out)

    for metric in ("NightlyCompleted", "NightlyFailed"):
        assert good[metric][:2] == alarm_on(metric)
    assert (good["NightlyCompleted"][2], good["NightlyFailed"][2]) == (1, 0)
    assert (bad["NightlyCompleted"][2], bad["NightlyFailed"][2]) == (1, 1)
