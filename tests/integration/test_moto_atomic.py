"""moto's DynamoDB conditional writes must be atomic, as DynamoDB's are.

moto checks a ConditionExpression and then writes, in two steps; with threads switching often, two
writers on one key can both pass the check. The `aws` fixture installs roamsync_dev.moto_atomic,
which serialises moto's writes; these tests race conditional writes on one key and expect one winner.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import REGION, TABLE_NAMES

ROUNDS = 40
THREADS = 6
TABLE = TABLE_NAMES["OrdersTable"]


@pytest.fixture
def fast_switching() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _one_round(write: Callable[[Any, int, int], None], clients: list[Any], round_no: int) -> int:
    """The number of threads whose conditional write succeeded in one round."""
    barrier = threading.Barrier(len(clients))
    wins: list[int] = []
    errors: list[BaseException] = []

    def run(index: int, client: Any) -> None:
        barrier.wait()
        try:
            write(client, round_no, index)
            wins.append(index)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                errors.append(exc)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    return len(wins)


def _race(write: Callable[[Any, int, int], None]) -> list[int]:
    """Per round, the number of threads whose conditional write succeeded."""
    clients = [boto3.client("dynamodb", region_name=REGION) for _ in range(THREADS)]
    return [_one_round(write, clients, round_no) for round_no in range(ROUNDS)]


def _key(round_no: int) -> dict[str, Any]:
    return {"order_id": {"S": f"race-{round_no}"}}


def test_conditional_put_item_attribute_not_exists_has_one_winner(aws: None, fast_switching: None) -> None:
    def write(client: Any, round_no: int, index: int) -> None:
        client.put_item(
            TableName=TABLE,
            Item={**_key(round_no), "writer": {"N": str(index)}, "version": {"N": "1"}},
            ConditionExpression="attribute_not_exists(order_id)",
        )

    winners = _race(write)
    assert winners == [1] * ROUNDS


def test_versioned_put_item_has_one_winner(aws: None, fast_switching: None) -> None:
    # The order repository's save: PutItem on condition that the stored version is the one read.
    client = boto3.client("dynamodb", region_name=REGION)
    for round_no in range(ROUNDS):
        client.put_item(TableName=TABLE, Item={**_key(round_no), "version": {"N": "1"}})

    def write(client: Any, round_no: int, index: int) -> None:
        client.put_item(
            TableName=TABLE,
            Item={**_key(round_no), "writer": {"N": str(index)}, "version": {"N": "2"}},
            ConditionExpression="#v = :expected",
            ExpressionAttributeNames={"#v": "version"},
            ExpressionAttributeValues={":expected": {"N": "1"}},
        )

    winners = _race(write)
    assert winners == [1] * ROUNDS


def test_conditional_update_item_has_one_winner(aws: None, fast_switching: None) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    for round_no in range(ROUNDS):
        client.put_item(TableName=TABLE, Item={**_key(round_no), "version": {"N": "1"}})

    def write(client: Any, round_no: int, index: int) -> None:
        client.update_item(
            TableName=TABLE,
            Key=_key(round_no),
            UpdateExpression="SET #v = :next, writer = :w",
            ConditionExpression="#v = :expected",
            ExpressionAttributeNames={"#v": "version"},
            ExpressionAttributeValues={":expected": {"N": "1"}, ":next": {"N": "2"}, ":w": {"N": str(index)}},
        )

    winners = _race(write)
    assert winners == [1] * ROUNDS


def test_conditional_delete_item_has_one_winner(aws: None, fast_switching: None) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    for round_no in range(ROUNDS):
        client.put_item(TableName=TABLE, Item={**_key(round_no), "version": {"N": "1"}})

    def write(client: Any, round_no: int, index: int) -> None:
        client.delete_item(
            TableName=TABLE, Key=_key(round_no), ConditionExpression="attribute_exists(order_id)"
        )

    winners = _race(write)
    assert winners == [1] * ROUNDS


def test_install_is_idempotent(aws: None) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    from roamsync_dev import moto_atomic

    before = DynamoDBBackend.put_item
    moto_atomic.install()
    moto_atomic.install()
    assert DynamoDBBackend.put_item is before
    assert moto_atomic.installed()
