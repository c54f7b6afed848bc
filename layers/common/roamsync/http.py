"""HTTP plumbing shared by the API handlers: the error shape and the one map of domain errors to HTTP."""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from roamsync.adapters.secrets import SecretUnavailable
from roamsync.domain.errors import (
    BadRequest,
    Conflict,
    NotFound,
    RoamsyncError,
    StorageError,
    UpstreamError,
)
from roamsync.domain.json_text import UnreadableJson, parse_json
from roamsync.observability import get_logger

JSON = "application/json"
# The largest request body any route accepts. Every real body (a shop row, an order) is well under
# 4 KiB; the cap keeps a caller from making a handler parse megabytes. The local gateway applies it too.
MAX_BODY_BYTES = 64 * 1024


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status, content_type=JSON, body=json.dumps(body, default=str), headers=headers or {}
    )


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> Response[str]:
    """`{"error": {"code", "message"}}`, the one error shape every route answers with."""
    return json_response(status, {"error": {"code": code, "message": message, **extra}}, headers)


def _describe(errors: Any) -> str:
    parts = []
    for err in errors[:5]:
        # A JSON error's location ends in a character offset, which tells a caller nothing.
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body" and not isinstance(p, int)) or "body"
        msg = "malformed JSON" if err.get("type") == "json_invalid" else err.get("msg", "invalid")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts) or "invalid request"


def body_bytes(event: BaseProxyEvent) -> int:
    """The size of a request's body in bytes, as the caller sent it (base64 decoded)."""
    body = event.body or ""
    if event.is_base64_encoded:
        return len(body) * 3 // 4
    return len(body.encode("utf-8", errors="surrogatepass"))


def _declares_json(event: BaseProxyEvent) -> bool:
    content_type = (event.headers.get("content-type") or event.headers.get("Content-Type") or JSON).lower()
    media_type = content_type.split(";", 1)[0].strip()
    return media_type == JSON or media_type.endswith("+json")


def _is_utf8(event: BaseProxyEvent) -> bool:
    # API Gateway hands a body that is not UTF-8 text to the function base64-encoded.
    if not event.is_base64_encoded or not event.body:
        return True
    try:
        base64.b64decode(event.body).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def read_json_body(text: str) -> Any:
    """A request body's value. Raises json.JSONDecodeError (which the validating resolver answers
    with 400 `malformed_json`) for anything that is not readable JSON: bad syntax, nesting too deep
    for the parser, NaN / Infinity literals. Numbers no float or int can hold (5,000 digits, 1e999)
    become Decimals, which the models' own validation then refuses as a 400 naming the field."""
    try:
        return parse_json(text, constants=False)
    except UnreadableJson as exc:
        raise json.JSONDecodeError(str(exc), text if isinstance(text, str) else "", 0) from None


def _too_large() -> Response[str]:
    return error_response(413, "payload_too_large", f"the request body exceeds {MAX_BODY_BYTES} bytes")


def new_resolver() -> APIGatewayRestResolver:
    """A validating resolver whose every failure answers with the error shape, never a stack trace.

    A body over MAX_BODY_BYTES is a 413 whether or not it would have validated.
    """
    app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=read_json_body)

    def _refuse_large_bodies(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
        if body_bytes(app.current_event) > MAX_BODY_BYTES:
            return _too_large()
        return next_middleware(app)

    # Powertools validates the body before any middleware runs: a valid oversized body reaches this
    # middleware, an invalid one the validation handler below, and both answer 413.
    app.use(middlewares=[_refuse_large_bodies])

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response[str]:
        if body_bytes(app.current_event) > MAX_BODY_BYTES:
            return _too_large()
        errors = exc.errors()
        code = "malformed_json" if any(e.get("type") == "json_invalid" for e in errors) else "invalid_request"
        return error_response(400, code, _describe(errors))

    @app.exception_handler(ValueError)
    def _unreadable(exc: ValueError) -> Response[str]:
        # Powertools parses a form or multipart body by its Content-Type before validating, and raises
        # ValueError on a malformed one: a caller's mistake, not ours. Anything else is a real bug.
        if body_bytes(app.current_event) > MAX_BODY_BYTES:
            return _too_large()
        if not _declares_json(app.current_event):
            return error_response(415, "unsupported_media_type", "the request body must be application/json")
        if isinstance(exc, UnicodeDecodeError) and not _is_utf8(app.current_event):
            return error_response(400, "malformed_json", "body: not UTF-8 text")
        raise exc

    @app.exception_handler(BadRequest)
    def _bad(exc: BadRequest) -> Response[str]:
        return error_response(400, "invalid_request", str(exc))

    @app.exception_handler(NotFound)
    def _missing(exc: NotFound) -> Response[str]:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(Conflict)
    def _conflict(exc: Conflict) -> Response[str]:
        return error_response(409, "conflict", str(exc))

    @app.exception_handler(UpstreamError)
    def _upstream(exc: UpstreamError) -> Response[str]:
        get_logger().warning(
            "upstream failure", extra={"error_kind": type(exc).__name__, "status": exc.status}
        )
        return error_response(503, "upstream_unavailable", "Roamify is not answering; try again shortly")

    @app.exception_handler(StorageError)
    def _storage(exc: StorageError) -> Response[str]:
        # DynamoDB still refusing after the SDK's retries (throttling, an outage): a passing state
        # the caller can retry, not a fault of the request.
        get_logger().warning("storage unavailable", extra={"error_kind": type(exc).__name__})
        body = {
            "error": {"code": "storage_unavailable", "message": "the data store is busy; try again shortly"}
        }
        return json_response(503, body, headers={"Retry-After": "2"})

    @app.exception_handler(SecretUnavailable)
    def _no_secret(exc: SecretUnavailable) -> Response[str]:
        get_logger().warning("secret unavailable", extra={"error": str(exc)})
        body = {
            "error": {
                "code": "secrets_unavailable",
                "message": "a credential could not be read; try again shortly",
            }
        }
        return json_response(503, body, headers={"Retry-After": str(exc.retry_after_seconds)})

    @app.exception_handler(RoamsyncError)
    def _ours(exc: RoamsyncError) -> Response[str]:
        get_logger().exception("request failed")
        return error_response(500, "internal_error", "the request could not be completed")

    @app.not_found
    def _no_route(exc: Exception) -> Response[str]:
        return error_response(404, "no_route", "no such route")

    return app
