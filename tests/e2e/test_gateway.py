"""The local stack end to end: HTTP through the gateway and authorizer to handlers, moto and the simulator."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
import requests

from roamsync_dev import lambda_runtime
from roamsync_dev.gateway import evaluate_policy, method_arn
from roamsync_dev.local_stack import LocalStack
from roamsync_dev.simulator import RoamifySimulator, start_server

pytestmark = pytest.mark.e2e

SYNC_ROUTE = "/api/admin/packages/sync"
SCHEDULED_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "5b3c2a1e-0000-4000-8000-000000000001",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "000000000000",
    "time": "2026-01-01T02:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:000000000000:rule/roamsync-local-nightly"],
    "detail": {},
}


# ---- helpers -------------------------------------------------------------------------------------


def post_sync(stack: LocalStack, token: str | None = None, **kwargs: Any) -> requests.Response:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    return requests.post(f"{stack.gateway_url}{SYNC_ROUTE}", headers=headers, timeout=30, **kwargs)


def scan(stack: LocalStack, table: str) -> list[dict[str, Any]]:
    client = stack.dynamodb_client()
    pages = client.get_paginator("scan").paginate(TableName=stack.table_names[table])
    return [item for page in pages for item in page["Items"]]


def active_package_ids(stack: LocalStack) -> set[str]:
    return {i["reseller_id"]["S"] for i in scan(stack, "PackagesTable") if i["status"]["S"] == "active"}


def run_record(stack: LocalStack, run_id: str) -> dict[str, Any] | None:
    item = stack.dynamodb_client().get_item(
        TableName=stack.table_names["RunsTable"], Key={"run_id": {"S": run_id}}
    )
    return json.loads(item["Item"]["record"]["S"]) if "Item" in item else None


def simulator_of(stack: LocalStack) -> RoamifySimulator:
    assert stack.simulator is not None
    return stack.simulator


# ---- authorisation -------------------------------------------------------------------------------


def test_a_sync_without_a_token_is_refused_with_401_and_the_error_body(local_stack: LocalStack) -> None:
    response = post_sync(local_stack, json={})

    assert response.status_code == 401
    assert response.json() == {"error": {"code": "unauthorized", "message": "a bearer token is required"}}


def test_the_client_token_is_refused_on_an_admin_route_with_403(local_stack: LocalStack) -> None:
    response = post_sync(local_stack, local_stack.client_token, json={})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_an_unknown_token_is_refused_with_403(local_stack: LocalStack) -> None:
    response = post_sync(local_stack, "not-a-token", json={})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


# ---- the sync route ------------------------------------------------------------------------------


def test_the_admin_token_starts_a_sync_that_the_background_worker_finishes(local_stack: LocalStack) -> None:
    # given new packages upstream
    simulator = simulator_of(local_stack)
    new_ids = simulator.add_packages(4)
    missing = set(simulator.package_ids()) - active_package_ids(local_stack)

    # when an admin starts a sync
    response = post_sync(local_stack, local_stack.admin_token, json={})

    # then it is accepted at once, with the run to follow
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"runId", "status"}
    assert body["status"] == "pending"
    # and the asynchronous worker finishes that run and writes the new packages
    assert local_stack.gateway is not None
    assert local_stack.gateway.wait_for_background(timeout=30)
    assert local_stack.gateway.background_failures == []
    record = run_record(local_stack, body["runId"])
    assert record is not None
    assert record["status"] == "succeeded"
    assert record["trigger"] == "api"
    assert record["counts"]["inserted"] == len(missing)
    assert set(new_ids) <= active_package_ids(local_stack)
    assert active_package_ids(local_stack) == set(simulator.package_ids())


def test_a_dry_run_answers_the_plan_and_writes_nothing(local_stack: LocalStack) -> None:
    # given packages upstream that the table does not hold yet
    simulator = simulator_of(local_stack)
    simulator.add_packages(5)
    missing = set(simulator.package_ids()) - active_package_ids(local_stack)
    packages_before = len(scan(local_stack, "PackagesTable"))
    runs_before = {i["run_id"]["S"] for i in scan(local_stack, "RunsTable")}

    # when an admin asks for a dry run
    response = post_sync(local_stack, local_stack.admin_token, json={"dryRun": True})

    # then the plan comes back at once
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "dry_run"
    assert body["planned"]["inserted"] == len(missing)
    assert body["counts"]["inserted"] == 0
    # and neither a package nor a run record was written
    assert local_stack.gateway is not None
    assert local_stack.gateway.wait_for_background(timeout=30)
    assert len(scan(local_stack, "PackagesTable")) == packages_before
    assert {i["run_id"]["S"] for i in scan(local_stack, "RunsTable")} == runs_before


def test_a_malformed_json_body_is_a_400_in_the_error_shape(local_stack: LocalStack) -> None:
    response = post_sync(local_stack, local_stack.admin_token, data="{not json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    assert isinstance(response.json()["error"]["message"], str)


def test_an_unknown_route_is_a_404_in_the_error_shape(local_stack: LocalStack) -> None:
    response = requests.get(f"{local_stack.gateway_url}/api/admin/nothing-here", timeout=10)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_route"


def test_another_method_on_a_known_path_is_a_405_in_the_error_shape(local_stack: LocalStack) -> None:
    response = requests.get(
        f"{local_stack.gateway_url}{SYNC_ROUTE}",
        headers={"Authorization": f"Bearer {local_stack.admin_token}"},
        timeout=10,
    )

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "POST"


# ---- the other ways in ---------------------------------------------------------------------------


def test_a_scheduled_event_runs_a_sync_in_process(local_stack: LocalStack) -> None:
    # given a price change upstream
    simulator = simulator_of(local_stack)
    changed = simulator.package_ids()[0]
    simulator.change_prices([changed], delta=2.0)

    # when the nightly schedule's event reaches the sync function
    summary = lambda_runtime.invoke("SyncFunction", SCHEDULED_EVENT)

    # then a scheduled sync ran and recorded itself
    assert summary["status"] == "succeeded"
    assert summary["trigger"] == "schedule"
    record = run_record(local_stack, summary["runId"])
    assert record is not None
    assert record["status"] == "succeeded"
    # and the table now holds the new price
    item = local_stack.dynamodb_client().get_item(
        TableName=local_stack.table_names["PackagesTable"], Key={"reseller_id": {"S": changed}}
    )["Item"]
    assert Decimal(item["price"]["N"]) == Decimal(str(simulator.get_package(changed)["price"]))


@pytest.mark.parametrize(
    "function_name",
    [
        "SyncFunction",
        "roamsync-local-sync",
        "arn:aws:lambda:us-east-1:000000000000:function:roamsync-local-sync",
    ],
)
def test_the_lambda_invoke_api_runs_a_function_by_logical_id_name_or_arn(
    local_stack: LocalStack, function_name: str
) -> None:
    # given a worker event for a run that does not exist
    worker_task = lambda_runtime.load_module("SyncFunction").WORKER_TASK
    client = boto3.client("lambda", region_name=local_stack.region, endpoint_url=local_stack.gateway_url)

    # when it is invoked synchronously through the Lambda API
    response = client.invoke(
        FunctionName=function_name, Payload=json.dumps({"task": worker_task, "runId": "no-such-run"}).encode()
    )

    # then the handler's answer comes back: the worker ignores a run it cannot find
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"runId": "no-such-run", "status": "ignored"}


def test_the_lambda_invoke_api_does_not_know_other_functions(local_stack: LocalStack) -> None:
    client = boto3.client("lambda", region_name=local_stack.region, endpoint_url=local_stack.gateway_url)

    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="no-such-function", Payload=b"{}")


# ---- configured endpoints ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def separate_moto() -> Iterator[str]:
    """A moto server in its own process: its tables are not this process's moto state."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=1):  # noqa: S310 - loopback
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_stack_uses_the_dynamodb_and_roamify_already_configured(
    separate_moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a DynamoDB endpoint and a Roamify (with its own key) already in the environment
    upstream = RoamifySimulator(size=30, seed=11, api_key="external-key")
    with start_server(upstream) as upstream_server:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", separate_moto)
        monkeypatch.setenv("ROAMIFY_BASE_URL", upstream_server.url)
        monkeypatch.setenv("ROAMIFY_API_KEY", "external-key")

        # when a local stack starts
        with LocalStack(dynamodb_port=0, simulator_port=0, gateway_port=0, access_log=False) as stack:
            # then it starts neither a DynamoDB nor a simulator of its own
            assert stack.dynamodb_server is None
            assert stack.simulator is None
            assert stack.dynamodb_endpoint == separate_moto
            assert stack.roamify_base_url == upstream_server.url
            assert stack.state()["simulatorUrl"] is None  # nothing of its own for `roamsync sim` to drive
            # and its tables and first sync landed in the configured DynamoDB, from the configured Roamify
            client = boto3.client("dynamodb", region_name=stack.region, endpoint_url=separate_moto)
            assert set(stack.table_names.values()) <= set(client.list_tables()["TableNames"])
            assert stack.first_sync is not None
            assert stack.first_sync["status"] == "succeeded"
            assert active_package_ids(stack) == set(upstream.package_ids())


def test_a_stack_started_inside_another_reuses_it_and_restores_the_environment_on_stop(
    local_stack: LocalStack, tmp_path: Any
) -> None:
    # given a running stack, whose endpoints and tokens are in the environment
    before = dict(os.environ)
    state_file = tmp_path / "stack.json"

    # when a second stack starts with a state file, and stops
    with LocalStack(
        dynamodb_port=0,
        simulator_port=0,
        gateway_port=0,
        first_sync=False,
        access_log=False,
        state_file=state_file,
    ) as nested:
        state = json.loads(state_file.read_text())
        # then it used the first stack's DynamoDB, Roamify and tokens, and wrote them for the CLI
        assert nested.dynamodb_server is None
        assert nested.simulator is None
        assert state["env"]["AWS_ENDPOINT_URL_DYNAMODB"] == local_stack.dynamodb_endpoint
        assert state["env"]["ADMIN_TOKEN"] == local_stack.admin_token
        assert state["env"]["AWS_ENDPOINT_URL_LAMBDA"] == nested.gateway_url
        assert state["simulatorUrl"] is None  # its Roamify is the first stack's simulator, not its own

    # and once stopped, the file is gone and the environment is the first stack's again
    assert not state_file.exists()
    assert dict(os.environ) == before
    assert post_sync(local_stack, local_stack.admin_token, json={"dryRun": True}).status_code == 200


# ---- API Gateway's policy rules ------------------------------------------------------------------

ARN = method_arn("POST", "/api/admin/packages/sync")


def _policy(*statements: tuple[str, str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": [resource]}
            for effect, resource in statements
        ],
    }


def test_a_wildcard_in_an_allowed_resource_spans_slashes() -> None:
    prefix = "arn:aws:execute-api:local:000000000000:local/local"

    assert evaluate_policy(_policy(("Allow", f"{prefix}/*/api/admin/*")), ARN) == "allow"
    assert evaluate_policy(_policy(("Allow", f"{prefix}/*/api/orders/*")), ARN) == "implicit_deny"
    assert evaluate_policy(_policy(("Allow", f"{prefix}/P?ST/api/admin/packages/sync")), ARN) == "allow"


def test_an_explicit_deny_beats_a_matching_allow() -> None:
    policy = _policy(("Allow", "arn:aws:execute-api:*"), ("Deny", "arn:aws:execute-api:*/POST/*"))

    assert evaluate_policy(policy, ARN) == "deny"
