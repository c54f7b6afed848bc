"""HTTP plumbing shared by the API handlers: the error shape and the one map of domain errors to HTTP."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from roamsync.domain.errors import (
    BadRequest,
    Conflict,
    NotFound,
    RoamsyncError,
    UpstreamError,
)
from roamsync.observability import get_logger

JSON = "application/json"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status, content_type=JSON, body=json.dumps(body, default=str), headers=headers or {}
    )


def error_response(status: int, code: str, message: str, **extra: Any) -> Response[str]:
    """`{"error": {"code", "message"}}`, the one error shape every route answers with."""
    return json_response(status, {"error": {"code": code, "message": message, **extra}})


def _describe(errors: Any) -> str:
    parts = []
    for err in errors[:5]:
        # A JSON error's location ends in a character offset, which tells a caller nothing.
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body" and not isinstance(p, int)) or "body"
        msg = "malformed JSON" if err.get("type") == "json_invalid" else err.get("msg", "invalid")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts) or "invalid request"


def new_resolver() -> APIGatewayRestResolver:
    """A validating resolver whose every failure answers with the error shape, never a stack trace."""
    app = APIGatewayRestResolver(enable_validation=True)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response[str]:
        errors = exc.errors()
        code = "malformed_json" if any(e.get("type") == "json_invalid" for e in errors) else "invalid_request"
        return error_response(400, code, _describe(errors))

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

    @app.exception_handler(RoamsyncError)
    def _ours(exc: RoamsyncError) -> Response[str]:
        get_logger().exception("request failed")
        return error_response(500, "internal_error", "the request could not be completed")

    @app.not_found
    def _no_route(exc: Exception) -> Response[str]:
        return error_response(404, "no_route", "no such route")

    return app
