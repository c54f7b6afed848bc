"""template.yaml's alarms, SNS topic and CloudWatch dashboard: what an operator is paged for, on
metrics the code really publishes, with the dimensions Powertools really gives them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from roamsync_dev.template import REPO_ROOT, load_template

ALARM = "AWS::CloudWatch::Alarm"
SOURCES = [
    *Path(REPO_ROOT, "layers", "common", "roamsync").rglob("*.py"),
    *Path(REPO_ROOT, "functions").rglob("*.py"),
]


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    resources: dict[str, Any] = load_template()["Resources"]
    return resources


def alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {lid: r["Properties"] for lid, r in resources.items() if r["Type"] == ALARM}


def published_metric_names() -> set[str]:
    """Metric names the code passes to add_count / add_percent / add_counts, as string literals."""
    names: set[str] = set()
    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        names.update(re.findall(r"add_(?:count|percent)\(\s*\"([A-Za-z]+)\"", text))
        names.update(re.findall(r"\"(HealthScore|InvalidMappings|FixesApplied)\"", text))
    return names


def test_every_alarm_notifies_the_topic_and_an_email_subscribes_only_when_given(
    resources: dict[str, Any],
) -> None:
    template = load_template()
    subscription = resources["AlarmEmailSubscription"]

    assert resources["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert template["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    for name, props in alarms(resources).items():
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], name


def test_health_below_95_pages_on_the_published_health_score(resources: dict[str, Any]) -> None:
    alarm = resources["HealthScoreLowAlarm"]["Properties"]

    assert (alarm["Namespace"], alarm["MetricName"]) == ("Roamsync", "HealthScore")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "roamsync"}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (95, "LessThanThreshold")


def test_a_nightly_run_that_failed_or_did_not_run_for_26_hours_pages(resources: dict[str, Any]) -> None:
    failed = resources["NightlyFailedAlarm"]["Properties"]
    missing = resources["NightlyNotRunAlarm"]["Properties"]

    assert (
        failed["MetricName"] == "NightlyFailed"
        and failed["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    )
    assert missing["MetricName"] == "NightlyCompleted"
    # 26 hourly periods, each without the heartbeat counted as breaching: 26 hours of silence.
    assert missing["Period"] * missing["EvaluationPeriods"] == 26 * 3600
    assert missing["DatapointsToAlarm"] == missing["EvaluationPeriods"]
    assert missing["TreatMissingData"] == "breaching"
    # CloudWatch's limit for alarms with periods of an hour or more: seven days of evaluation.
    assert missing["Period"] >= 3600 and missing["Period"] * missing["EvaluationPeriods"] <= 7 * 86400


def test_spikes_of_fallbacks_and_upstream_errors_page(resources: dict[str, Any]) -> None:
    fallbacks = resources["OrderFallbacksSpikeAlarm"]["Properties"]
    upstream = resources["OrderUpstreamErrorsAlarm"]["Properties"]["Metrics"][0]["Expression"]
    checkout = resources["CheckoutUpstreamErrorsAlarm"]["Properties"]["Metrics"][0]["Expression"]

    assert fallbacks["MetricName"] == "OrderFallbacksUsed"
    assert fallbacks["Threshold"] == {"Ref": "OrderFallbacksAlarmThreshold"}
    # These carry a `kind` dimension (one metric per kind): a Metrics Insights query sums them all.
    assert upstream == 'SELECT SUM(OrderUpstreamErrors) FROM SCHEMA("Roamsync", kind, service)'
    assert checkout == 'SELECT SUM(UpstreamErrors) FROM SCHEMA("Roamsync", kind, operation, service)'


def test_every_function_has_an_errors_and_a_throttles_alarm(resources: dict[str, Any]) -> None:
    functions = {lid for lid, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    watched: dict[str, set[str]] = {}
    for props in alarms(resources).values():
        if props.get("Namespace") == "AWS/Lambda":
            (dimension,) = props["Dimensions"]
            watched.setdefault(props["MetricName"], set()).add(dimension["Value"]["Ref"])

    assert watched == {"Errors": functions, "Throttles": functions}


def test_every_roamsync_metric_alarmed_on_is_published_by_the_code(resources: dict[str, Any]) -> None:
    published = published_metric_names()
    alarmed = set()
    for props in alarms(resources).values():
        if props.get("Namespace") == "Roamsync":
            alarmed.add(props["MetricName"])
        for query in props.get("Metrics", []):
            alarmed.update(re.findall(r"SUM\((\w+)\)", query.get("Expression", "")))

    assert alarmed
    assert alarmed <= published, alarmed - published


def test_the_dashboard_is_json_and_shows_every_alarm(resources: dict[str, Any]) -> None:
    body = resources["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([^}]+)\}", body))
    document = json.loads(re.sub(r"\$\{[^}]+\}", "1", body))

    shown = {n.removesuffix(".Arn") for n in names if n.endswith(".Arn")}
    assert shown == set(alarms(resources))
    assert {w["type"] for w in document["widgets"]} == {"text", "metric", "alarm"}
    metrics = json.dumps(document)
    for name in (
        "HealthScore",
        "NightlyCompleted",
        "OrderFallbacksUsed",
        "OrderUpstreamErrors",
        "Errors",
        "Throttles",
    ):
        assert name in metrics


def test_an_order_needing_review_pages_at_once(resources: dict[str, Any]) -> None:
    alarm = resources["OrdersNeedingReviewAlarm"]["Properties"]

    assert (alarm["Namespace"], alarm["MetricName"]) == ("Roamsync", "OrdersNeedingReview")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "roamsync"}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        1,
        "GreaterThanOrEqualToThreshold",
    )
