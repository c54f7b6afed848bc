"""The API Gateway REST (v1) Lambda proxy event built from one HTTP request."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request

from roamsync_dev.gateway.iam import API_ID, STAGE
from roamsync_dev.gateway.routing import CompiledRoute
from roamsync_dev.template import LOCAL_ACCOUNT_ID


@dataclass
class Invocation:
    """What one API request carries into the authorizer and the integration."""

    method: str
    path: str
    route: CompiledRoute
    path_parameters: dict[str, str] | None
    headers: dict[str, str]
    multi_headers: dict[str, list[str]]
    query: dict[str, str] | None
    multi_query: dict[str, list[str]] | None
    body: str | None
    is_base64: bool
    request_context: dict[str, Any] = field(default_factory=dict)


def build_invocation(
    request: Request,
    *,
    method: str,
    path: str,
    compiled: CompiledRoute,
    params: dict[str, str],
    request_id: str,
) -> Invocation:
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        multi_headers.setdefault(name, []).append(value)
    source_ip = request.remote_addr or "127.0.0.1"
    multi_headers.setdefault("X-Forwarded-For", [source_ip])
    multi_headers.setdefault("X-Forwarded-Proto", [request.scheme])
    headers = {name: values[-1] for name, values in multi_headers.items()}
    multi_query = {name: request.args.getlist(name) for name in request.args}
    raw = request.get_data(cache=False)
    body: str | None = None
    is_base64 = False
    if raw:
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            body, is_base64 = base64.b64encode(raw).decode("ascii"), True
    now = datetime.now(UTC)
    request_context = {
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": API_ID,
        "resourceId": compiled.route.path,
        "resourcePath": compiled.route.path,
        "httpMethod": method,
        "path": f"/{STAGE}{path}",
        "stage": STAGE,
        "requestId": request_id,
        "extendedRequestId": request_id,
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
        "domainName": request.host,
        "identity": {
            "sourceIp": source_ip,
            "userAgent": request.headers.get("User-Agent"),
            "accountId": None,
            "caller": None,
            "user": None,
            "userArn": None,
        },
    }
    return Invocation(
        method=method,
        path=path,
        route=compiled,
        path_parameters=params or None,
        headers=headers,
        multi_headers=multi_headers,
        query={name: values[-1] for name, values in multi_query.items()} or None,
        multi_query=multi_query or None,
        body=body,
        is_base64=is_base64,
        request_context=request_context,
    )


def proxy_event(call: Invocation) -> dict[str, Any]:
    """The API Gateway REST (v1) Lambda proxy event for one request."""
    return {
        "resource": call.route.route.path,
        "path": call.path,
        "httpMethod": call.method,
        "headers": dict(call.headers),
        "multiValueHeaders": {k: list(v) for k, v in call.multi_headers.items()},
        "queryStringParameters": dict(call.query) if call.query else None,
        "multiValueQueryStringParameters": (
            {k: list(v) for k, v in call.multi_query.items()} if call.multi_query else None
        ),
        "pathParameters": dict(call.path_parameters) if call.path_parameters else None,
        "stageVariables": None,
        "requestContext": dict(call.request_context),
        "body": call.body,
        "isBase64Encoded": call.is_base64,
    }
