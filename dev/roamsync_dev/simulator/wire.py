"""The simulator's wire shapes: JSON bodies (RawNumber literals included), envelopes, argument parsing."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Request, Response

from roamsync_dev.simulator.catalog import (
    RawNumber,
)

MAX_PAGE_SIZE = 1000


class BadRequest(Exception):
    """A request the simulator answers with 400."""


def _dumps(payload: Any) -> str:
    """JSON text of `payload`, with every RawNumber written as its literal."""
    raw: list[str] = []

    def literal(value: Any) -> Any:
        if isinstance(value, RawNumber):
            raw.append(value.literal)
            return f"\u0000raw{len(raw) - 1}\u0000"
        raise TypeError(f"not JSON: {type(value).__name__}")

    text = json.dumps(payload, default=literal)
    for n, value in enumerate(raw):
        text = text.replace(f'"\\u0000raw{n}\\u0000"', value)
    return text


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(_dumps(payload), status=status, headers=headers, mimetype="application/json")


def _failed(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json(status, {"message": message, "status": "failed"}, headers)


def _success(data: Any) -> Response:
    return _json(200, {"status": "success", "data": data})


def _int_arg(request: Request, name: str, default: int, maximum: int = 10**9) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if not 1 <= value <= maximum:
        raise BadRequest(f"{name} must be between 1 and {maximum}")
    return value


def _parse_order_body(raw: bytes) -> tuple[list[tuple[str, int]], str | None]:
    """Return (packageId, quantity) pairs and the referenceId, or raise BadRequest."""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise BadRequest("Body must be JSON") from None
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise BadRequest("items must be a non-empty list")
    parsed: list[tuple[str, int]] = []
    for item in items:
        package_id = item.get("packageId") if isinstance(item, dict) else None
        quantity = item.get("quantity", 1) if isinstance(item, dict) else None
        if not isinstance(package_id, str) or not package_id:
            raise BadRequest("each item needs a packageId")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise BadRequest("quantity must be a positive integer")
        parsed.append((package_id, quantity))
    reference_id = body.get("referenceId")
    if reference_id is not None and not isinstance(reference_id, str):
        raise BadRequest("referenceId must be a string")
    return parsed, reference_id
