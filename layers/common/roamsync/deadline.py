"""How long a request may still spend: its own time budget, capped by what Lambda has left."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def remaining_time(
    context: Any,
    started: float,
    budget_seconds: float,
    *,
    margin_seconds: float = 0.0,
    monotonic: Callable[[], float] = time.monotonic,
) -> Callable[[], float]:
    """A callable answering the seconds this request has left, each time it is called.

    That is `budget_seconds` counted from `started` (a `time.monotonic()` reading), never more
    than the Lambda `context`'s remaining time (ignored when the context has none, as off Lambda),
    less `margin_seconds` kept back for the work after the last upstream call. `monotonic` must be
    the clock `started` was read from (the handler's own, so tests can move it). Never raises.
    """
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)

    def remaining() -> float:
        left = budget_seconds - (monotonic() - started)
        if callable(remaining_ms):
            left = min(left, remaining_ms() / 1000)
        return left - margin_seconds

    return remaining
