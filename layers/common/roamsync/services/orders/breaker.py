"""The circuit breaker in front of Roamify's order calls: one per Lambda container."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from typing import ParamSpec, TypeVar

from roamsync.domain.errors import RateLimited, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from roamsync.observability import add_count, get_logger

P = ParamSpec("P")
T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(UpstreamUnavailable):
    """The breaker is open: nothing was sent to Roamify. `retry_after_seconds` says when to retry."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after_seconds = max(1, math.ceil(retry_after))
        super().__init__(f"Roamify is failing; calls are paused for {self.retry_after_seconds} s")


# What says "Roamify is down or drowning": answered 4xx mean it is up and judging the request.
BREAKER_FAILURES = (UpstreamTimeout, UpstreamUnavailable, RateLimited)


def _publish_state(old: BreakerState, new: BreakerState) -> None:
    get_logger().warning("roamify circuit breaker changed state", extra={"from": old.value, "to": new.value})
    add_count("OrderBreakerStateChanges", state=new.value)


class CircuitBreaker:
    """Consecutive-failure circuit breaker for the Roamify calls of one Lambda container.

    Closed: calls go through; `failure_threshold` consecutive failures (timeouts, 5xx, 429) open
    it. Open: calls fail at once with CircuitOpen for `cooldown_seconds`. Then half-open: one trial
    call goes through (others still fail fast); its success closes the breaker, its failure opens
    it for another cooldown. Thread-safe; the lock is never held while Roamify is called.

    Hand-written rather than pybreaker: pybreaker holds one lock for the whole guarded call (so a
    threaded local gateway would call Roamify one request at a time), reads the wall clock with no
    way to inject one (so the cooldown cannot be tested without sleeping), has no public "may I
    call, and when may I retry" question (needed to answer 503 + Retry-After *before* writing the
    Orders record) and lets every caller through while half-open.
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        cooldown_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState, BreakerState], None] = _publish_state,
    ) -> None:
        if failure_threshold < 1 or cooldown_seconds <= 0:
            raise ValueError("failure_threshold must be >= 1 and cooldown_seconds > 0")
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state

    def retry_after(self) -> float:
        """Seconds until a call would be let through; 0 when one would be now."""
        with self._lock:
            if self._state is BreakerState.OPEN:
                return max(0.0, self._opened_at + self.cooldown_seconds - self._clock())
            if self._state is BreakerState.HALF_OPEN and self._trial_in_flight:
                return 1.0
            return 0.0

    def allows(self) -> bool:
        """True when a call made now would reach Roamify."""
        return self.retry_after() == 0.0

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` unless the breaker is open (CircuitOpen, nothing called).

        Timeouts, 5xx and 429 count as failures; any other answer, an answered 4xx included,
        counts as Roamify being up. The call's own exception is re-raised unchanged.
        """
        trial = self._admit()
        try:
            result = fn(*args, **kwargs)
        except BREAKER_FAILURES:
            self._record(failed=True, trial=trial)
            raise
        except UpstreamError:
            self._record(failed=False, trial=trial)
            raise
        except BaseException:
            if trial:
                self._release_trial()
            raise
        self._record(failed=False, trial=trial)
        return result

    def _admit(self) -> bool:
        """Let a call through or raise CircuitOpen; True when the call is the half-open trial."""
        change = None
        trial = False
        with self._lock:
            if self._state is BreakerState.OPEN:
                waited = self._clock() - self._opened_at
                if waited < self.cooldown_seconds:
                    raise CircuitOpen(self.cooldown_seconds - waited)
                change = (self._state, BreakerState.HALF_OPEN)
                self._state = BreakerState.HALF_OPEN
            if self._state is BreakerState.HALF_OPEN:
                if self._trial_in_flight:
                    raise CircuitOpen(1.0)
                self._trial_in_flight = trial = True
        if change:
            self._on_change(*change)
        return trial

    def _release_trial(self) -> None:
        with self._lock:
            self._trial_in_flight = False

    def _record(self, *, failed: bool, trial: bool) -> None:
        change = None
        with self._lock:
            old = self._state
            if trial:
                # Only the trial decides the half-open state: its outcome closes or reopens it.
                self._trial_in_flight = False
                self._failures = 0 if not failed else self._failures + 1
                self._state = BreakerState.OPEN if failed else BreakerState.CLOSED
                if failed:
                    self._opened_at = self._clock()
            elif old is BreakerState.CLOSED:
                # A call admitted while closed counts only while it is still closed: one that ends
                # after the breaker opened (or during the trial) says nothing the trial does not.
                self._failures = self._failures + 1 if failed else 0
                if self._failures >= self.failure_threshold:
                    self._state = BreakerState.OPEN
                    self._opened_at = self._clock()
            if self._state is not old:
                change = (old, self._state)
        if change:
            self._on_change(*change)
