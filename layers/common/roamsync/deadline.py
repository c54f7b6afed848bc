"""How long a request may still spend: its own time budget, capped by what Lambda has left."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Budget:
    """One invocation's time, started by its entrypoint and passed down: when it started (a
    `monotonic()` reading) and the Lambda context whose remaining time caps it. The only reader
    of Lambda's remaining time."""

    context: Any
    started: float
    monotonic: Callable[[], float] = time.monotonic

    @classmethod
    def start(
        cls, context: Any, *, earlier_by: float = 0.0, monotonic: Callable[[], float] = time.monotonic
    ) -> Budget:
        """A budget counted from now, or from `earlier_by` seconds ago (init a cold start waited for)."""
        return cls(context, monotonic() - earlier_by, monotonic)

    def within(self, budget_seconds: float, *, margin_seconds: float = 0.0) -> Callable[[], float]:
        """The seconds left of `budget_seconds` from the start, capped by Lambda (see `remaining_time`)."""
        return remaining_time(
            self.context,
            self.started,
            budget_seconds,
            margin_seconds=margin_seconds,
            monotonic=self.monotonic,
        )

    def lambda_left(self, keep_seconds: float = 0.0) -> Callable[[], float] | None:
        """The seconds Lambda has left, less `keep_seconds`; None off Lambda (no context)."""
        remaining_ms = getattr(self.context, "get_remaining_time_in_millis", None)
        if not callable(remaining_ms):
            return None
        return lambda: remaining_ms() / 1000 - keep_seconds
