"""set_up_tables against endpoints that implement less than DynamoDB: botocore's Stubber answers as
dynalite does (HTTP 400, UnknownOperationException), or with another refusal.

Given / when / then on what comes back (tables created, settings skipped, warnings, errors raised);
the Stubber also fails a test on any call it was not told to expect, so "asked once" is checked too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from roamsync_dev.template import set_up_tables

UNKNOWN = "UnknownOperationException"


def table(name: str, *, ttl: bool = False) -> dict[str, Any]:
    props: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
    }
    if ttl:
        props["TimeToLiveSpecification"] = {"AttributeName": "expires_at", "Enabled": True}
    return {"Type": "AWS::DynamoDB::Table", "Properties": props}


TEMPLATE = {"Resources": {"Cache": table("Cache", ttl=True), "Runs": table("Runs")}}
TEMPLATE_KWARGS = {
    name: {
        "TableName": name,
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    for name in ("Cache", "Runs")
}


@pytest.fixture
def endpoint() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "dynamodb", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def existing(stubber: Stubber, name: str) -> None:
    stubber.add_response(
        "describe_table", {"Table": {"TableName": name, "TableStatus": "ACTIVE"}}, {"TableName": name}
    )


def refuse(stubber: Stubber, operation: str, code: str = UNKNOWN) -> None:
    stubber.add_client_error(operation, service_error_code=code, http_status_code=400)


def ttl_off(stubber: Stubber) -> None:
    stubber.add_response("describe_time_to_live", {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}})


def test_what_the_endpoint_does_not_implement_is_skipped_once_with_one_warning_each(
    endpoint: tuple[Any, Stubber], caplog: pytest.LogCaptureFixture
) -> None:
    client, stubber = endpoint
    # given two tables that exist, on an endpoint that implements neither UpdateTimeToLive nor
    # UpdateContinuousBackups (dynalite); neither is asked a second time
    existing(stubber, "Cache")
    existing(stubber, "Runs")
    ttl_off(stubber)
    refuse(stubber, "update_time_to_live")
    refuse(stubber, "update_continuous_backups")

    # when the tables are set up
    with caplog.at_level(logging.WARNING, logger="roamsync_dev.template"):
        setup = set_up_tables(client, TEMPLATE)

    # then nothing is created, both settings are skipped on every table that declares them
    assert setup.created == []
    assert [(s.operation, s.setting, s.error_code, s.tables) for s in setup.skipped] == [
        ("UpdateTimeToLive", "TTL on expires_at", UNKNOWN, ("Cache",)),
        ("UpdateContinuousBackups", "point-in-time recovery", UNKNOWN, ("Cache", "Runs")),
    ]
    # and each is one warning line, logged as it is returned
    assert setup.warnings == [
        "TTL on expires_at skipped: this DynamoDB endpoint does not implement UpdateTimeToLive "
        "(UnknownOperationException); left off on Cache",
        "point-in-time recovery skipped: this DynamoDB endpoint does not implement "
        "UpdateContinuousBackups (UnknownOperationException); left off on Cache, Runs",
    ]
    assert [r.getMessage() for r in caplog.records] == setup.warnings


def test_an_endpoint_without_describe_time_to_live_skips_ttl_naming_that_call(
    endpoint: tuple[Any, Stubber],
) -> None:
    client, stubber = endpoint
    existing(stubber, "Cache")
    refuse(stubber, "describe_time_to_live")
    stubber.add_response("update_continuous_backups", {})

    setup = set_up_tables(client, TEMPLATE, {"Cache": "Cache"})

    assert [(s.operation, s.tables) for s in setup.skipped] == [("DescribeTimeToLive", ("Cache",))]


def test_tables_are_created_before_any_is_waited_for_and_settings_apply_where_implemented(
    endpoint: tuple[Any, Stubber],
) -> None:
    client, stubber = endpoint
    # given an empty endpoint that implements everything (as DynamoDB does)
    for _ in TEMPLATE_KWARGS:
        stubber.add_client_error("describe_table", service_error_code="ResourceNotFoundException")
    for kwargs in TEMPLATE_KWARGS.values():
        stubber.add_response("create_table", {}, kwargs)
    existing(stubber, "Cache")  # the waiters
    existing(stubber, "Runs")
    ttl_off(stubber)
    stubber.add_response("update_time_to_live", {})
    stubber.add_response("update_continuous_backups", {})
    stubber.add_response("update_continuous_backups", {})

    setup = set_up_tables(client, TEMPLATE)

    assert setup.created == ["Cache", "Runs"]
    assert setup.skipped == [] and setup.warnings == []


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("update_continuous_backups", "ValidationException"),
        ("update_continuous_backups", "AccessDeniedException"),
        ("update_time_to_live", "ValidationException"),
    ],
)
def test_any_other_refusal_is_raised(endpoint: tuple[Any, Stubber], operation: str, code: str) -> None:
    client, stubber = endpoint
    existing(stubber, "Cache")
    ttl_off(stubber)
    if operation == "update_time_to_live":
        refuse(stubber, operation, code)
    else:
        stubber.add_response("update_time_to_live", {})
        refuse(stubber, operation, code)

    with pytest.raises(ClientError) as raised:
        set_up_tables(client, TEMPLATE, {"Cache": "Cache"})

    assert raised.value.response["Error"]["Code"] == code
