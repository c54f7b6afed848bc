"""Hands long work to a fresh, asynchronous invocation of a Lambda function."""

from __future__ import annotations

import json
from typing import Any

from roamsync.domain.errors import RoamsyncError


class InvokeFailed(RoamsyncError):
    """Lambda did not accept the asynchronous invocation."""


class LambdaAsyncInvoker:
    """`Invoke` with InvocationType=Event. Honours AWS_ENDPOINT_URL_LAMBDA (the local stack serves it)."""

    def __init__(self, function_name: str, *, region: str, endpoint_url: str | None = None) -> None:
        self.function_name = function_name
        self._region = region
        self._endpoint_url = endpoint_url
        self._client: Any = None

    def invoke_async(self, payload: dict[str, Any]) -> None:
        if self._client is None:
            import boto3

            self._client = boto3.client("lambda", region_name=self._region, endpoint_url=self._endpoint_url)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.invoke(
                FunctionName=self.function_name, InvocationType="Event", Payload=json.dumps(payload).encode()
            )
        except (BotoCoreError, ClientError) as exc:
            raise InvokeFailed(f"could not invoke {self.function_name}: {exc}") from None
        if response.get("StatusCode") != 202:
            raise InvokeFailed(f"Lambda refused the async invocation of {self.function_name}: {response}")
