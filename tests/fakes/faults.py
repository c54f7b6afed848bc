"""DynamoDB faults for the fault matrix, injected under the SDK so roamsync's real code paths run.

- `DynamoThrottle`: a botocore ``before-send`` hook (wrapping moto's stubber, which every client's
  ``before-send`` already calls) that answers the first N calls of chosen (operation, table) pairs with
  ``ProvisionedThroughputExceededException``; botocore's retry handler sees a throttle and resends, as
  it would against DynamoDB. The backoff sleep is shortened (the retry path still runs).
- Races on one key need no fake: the `aws` fixture installs roamsync_dev.moto_atomic, which makes
  moto's conditional writes atomic, as DynamoDB's are.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from tests.conftest import REGION, TABLE_NAMES

THROTTLE_BODY = {
    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    "message": "The level of configured provisioned throughput for the table was exceeded.",
}


def _target(request: Any) -> tuple[str, str]:
    """(operation, table name) of a DynamoDB JSON request; table '' when it names none or several."""
    target = request.headers.get("X-Amz-Target", b"")
    operation = (target.decode() if isinstance(target, bytes) else str(target)).rpartition(".")[2]
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return operation, ""
    table = body.get("TableName")
    if table is None and isinstance(body.get("RequestItems"), dict) and len(body["RequestItems"]) == 1:
        [table] = body["RequestItems"]
    return operation, table or ""


class DynamoThrottle:
    """Throttle the first `first_n` calls of each (operation, logical table) in `targets`, after
    letting the first `skip` of them through."""

    def __init__(self, targets: Iterable[tuple[str, str]], first_n: int = 1, *, skip: int = 0) -> None:
        self.targets = {(op, TABLE_NAMES[logical]) for op, logical in targets}
        self.first_n = first_n
        self.skip = skip
        self.seen: Counter[tuple[str, str]] = Counter()
        self.throttled: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def should_throttle(self, request: Any) -> bool:
        key = _target(request)
        if key not in self.targets:
            return False
        with self._lock:
            self.seen[key] += 1
            if self.skip < self.seen[key] <= self.skip + self.first_n:
                self.throttled[key] += 1
                return True
        return False

    @contextmanager
    def installed(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoThrottle]:
        from botocore.retries import standard
        from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

        real_call = BotocoreStubber.__call__
        throttle = self

        def call(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
            if self.enabled and "dynamodb" in request.url and throttle.should_throttle(request):
                body = json.dumps(THROTTLE_BODY).encode()
                headers = {"x-amzn-ErrorType": "ProvisionedThroughputExceededException"}
                return AWSResponse(request.url, 400, headers, MockRawResponse(body))  # type: ignore[arg-type]
            return real_call(self, event_name, request, **kwargs)

        with monkeypatch.context() as mp:
            mp.setattr(BotocoreStubber, "__call__", call)
            # the retry still happens; only its jittered sleep (up to seconds) is cut short
            mp.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.001)
            yield self


def scan_items(logical_table: str) -> list[dict[str, Any]]:
    """Every item of a table (raw DynamoDB JSON), through a client of its own."""
    client = boto3.client("dynamodb", region_name=REGION)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": TABLE_NAMES[logical_table]}
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
