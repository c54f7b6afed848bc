"""Lambda's Invoke API (`POST /2015-03-31/functions/<name>/invocations`) over in-process handlers.

Handler code calling boto3's `lambda.invoke` works unchanged when AWS_ENDPOINT_URL_LAMBDA points at the
gateway. Asynchronous (`Event`) invocations run on a small thread pool; Lambda's retries of failed async
events are not emulated.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from roamsync_dev import lambda_runtime
from roamsync_dev.gateway.responses import lambda_error, lambda_error_payload, lambda_reply
from roamsync_dev.template import FunctionSpec

log = logging.getLogger("roamsync_dev.gateway")

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")


@dataclass(frozen=True)
class BackgroundFailure:
    """An asynchronous invocation whose handler raised (logged, and kept here for tests)."""

    function: str
    event: Any
    error: str


class InvokeApi:
    """Lambda's Invoke API for the template's functions, with a thread pool for `Event` invocations."""

    def __init__(
        self,
        template: Mapping[str, Any],
        functions: Mapping[str, FunctionSpec],
        *,
        background_workers: int = 4,
    ) -> None:
        self.template = template
        self.functions = functions
        self._executor = ThreadPoolExecutor(max_workers=background_workers, thread_name_prefix="lambda-event")
        self._pending = 0
        self._idle = threading.Condition()
        self.background_failures: list[BackgroundFailure] = []

    def resolve_function(self, name: str) -> str | None:
        """The logical id for a function name, logical id or ARN (a `:qualifier` suffix is ignored)."""
        parts = name.split(":")
        if "function" in parts:
            parts = parts[parts.index("function") + 1 :]
        bare = parts[0] if parts else name
        if bare in self.functions:
            return bare
        for logical_id, spec in self.functions.items():
            if spec.function_name == bare:
                return logical_id
        return None

    def handle(self, request: Request, name: str) -> Response:  # noqa: PLR0911 - one per Lambda answer
        request_id = str(uuid.uuid4())
        if request.method != "POST":
            return lambda_error(405, "MethodNotAllowedException", "Invoke takes POST", request_id)
        logical_id = self.resolve_function(name)
        if logical_id is None:
            return lambda_error(404, "ResourceNotFoundException", f"Function not found: {name}", request_id)
        raw = request.get_data(cache=False)
        try:
            event = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return lambda_error(
                400, "InvalidRequestContentException", "Could not parse request body into json", request_id
            )

        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            return lambda_reply(204, b"", request_id)
        if invocation_type == "Event":
            self._submit_background(logical_id, event)
            return lambda_reply(202, b"", request_id)
        if invocation_type != "RequestResponse":
            return lambda_error(
                400,
                "InvalidParameterValueException",
                f"unknown invocation type {invocation_type}",
                request_id,
            )
        try:
            result = lambda_runtime.invoke(logical_id, event, self.template)
            payload = json.dumps(result).encode()
        except Exception as exc:
            log.exception("%s raised in a RequestResponse invocation", logical_id)
            response = lambda_reply(200, json.dumps(lambda_error_payload(exc)).encode(), request_id)
            response.headers["X-Amz-Function-Error"] = "Unhandled"
            return response
        return lambda_reply(200, payload, request_id)

    # ---- background (Event) invocations ----------------------------------------------------------

    def _submit_background(self, logical_id: str, event: Any) -> None:
        with self._idle:
            self._pending += 1
        try:
            self._executor.submit(self._run_background, logical_id, event)
        except RuntimeError:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()
            raise

    def _run_background(self, logical_id: str, event: Any) -> None:
        try:
            lambda_runtime.invoke(logical_id, event, self.template)
        except Exception as exc:
            log.exception("asynchronous invocation of %s failed", logical_id)
            self.background_failures.append(
                BackgroundFailure(logical_id, event, f"{type(exc).__name__}: {exc}")
            )
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def wait_for_background(self, timeout: float | None = 30.0) -> bool:
        """Block until no asynchronous invocation is queued or running (including ones they start).

        Returns False when `timeout` seconds pass first.
        """
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float | None = 10.0) -> bool:
        """Stop taking asynchronous invocations; wait up to `timeout` for the running ones. True if idle."""
        idle = self.wait_for_background(timeout)
        self._executor.shutdown(wait=idle, cancel_futures=True)
        return idle
