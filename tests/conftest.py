"""Shared fixtures: an in-process DynamoDB (moto) with the template's tables, the Roamify simulator,
and a Container wired to both."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from roamsync.container import Container, set_container
from roamsync.settings import Settings, reset_settings

REGION = "eu-west-1"
TABLE_NAMES = {
    "PackagesTable": "test-packages",
    "MyPackagesTable": "test-my-packages",
    "ValidationCacheTable": "test-validation-cache",
    "RunsTable": "test-runs",
    "OrdersTable": "test-orders",
}
SIM_KEY = "sim-key"


@pytest.fixture
def aws() -> Iterator[None]:
    """moto's in-process AWS with the five tables created from template.yaml.

    moto's DynamoDB writes are made atomic first (roamsync_dev.moto_atomic), as DynamoDB's are.
    """
    from roamsync_dev import moto_atomic
    from roamsync_dev.template import create_tables, load_template

    moto_atomic.install()

    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    saved = {k: os.environ.get(k) for k in [*env, "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"]}
    os.environ.update(env)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    try:
        with mock_aws():
            create_tables(boto3.client("dynamodb", region_name=REGION), load_template(), TABLE_NAMES)
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def simulator():
    """A 200-package Roamify simulator served on a free loopback port."""
    from roamsync_dev.simulator import RoamifySimulator, start_server

    sim = RoamifySimulator(size=200, seed=7, api_key=SIM_KEY)
    server = start_server(sim, port=0)
    sim.url = server.url  # type: ignore[attr-defined]
    try:
        yield sim
    finally:
        server.stop()


def make_settings(roamify_url: str = "http://127.0.0.1:9", **overrides: object) -> Settings:
    values: dict[str, object] = {
        "packages_table": TABLE_NAMES["PackagesTable"],
        "my_packages_table": TABLE_NAMES["MyPackagesTable"],
        "validation_cache_table": TABLE_NAMES["ValidationCacheTable"],
        "runs_table": TABLE_NAMES["RunsTable"],
        "orders_table": TABLE_NAMES["OrdersTable"],
        "roamify_base_url": roamify_url,
        "roamify_api_key": SIM_KEY,
        "aws_region": REGION,
        "admin_token": "admin-secret-token",
        "client_token": "client-secret-token",
        # Fast, few retries: tests exercise the retry path, not the wall clock.
        "roamify_max_attempts": 2,
        "roamify_backoff_base_seconds": 0.01,
        "roamify_backoff_cap_seconds": 0.05,
        "roamify_read_timeout_seconds": 2.0,
        "dynamodb_batch_base_backoff_ms": 1,
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture
def container(aws: None, simulator) -> Iterator[Container]:
    """A Container on moto and the simulator, installed as the process-wide one for handlers."""
    c = Container(make_settings(simulator.url))
    set_container(c)
    try:
        yield c
    finally:
        set_container(None)
        reset_settings()


# Variables that would point a local stack at something other than its own servers and secrets.
LOCAL_STACK_INPUTS = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_LAMBDA",
    "ROAMIFY_BASE_URL",
    "ROAMIFY_API_KEY",
    "ADMIN_TOKEN",
    "CLIENT_TOKEN",
)


@pytest.fixture(scope="module")
def local_stack():
    """The local stack (embedded moto, a 120-package simulator, the gateway) on free loopback ports.

    Module-scoped rather than session-scoped: moto keeps its state per process and the `aws`
    fixture's mock_aws resets it, so a stack must not outlive the module that uses it.
    """
    from roamsync_dev.local_stack import LocalStack

    with pytest.MonkeyPatch.context() as mp:
        for name in LOCAL_STACK_INPUTS:
            mp.delenv(name, raising=False)
        stack = LocalStack(
            dynamodb_port=0, simulator_port=0, gateway_port=0, catalog_size=120, access_log=False
        )
        with stack:
            yield stack
