"""The order path's circuit breaker under interleaved calls: only the half-open trial decides."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from roamsync.domain.errors import UpstreamUnavailable
from roamsync.services.orders import BreakerState, CircuitBreaker, CircuitOpen


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class HeldCall:
    """A Roamify call running on its own thread, held until released: an interleaving by hand."""

    def __init__(self, breaker: CircuitBreaker, *, fails: bool) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.error: BaseException | None = None
        self._fails = fails
        self._thread = threading.Thread(target=self._run, args=(breaker,), daemon=True)
        self._thread.start()
        assert self.entered.wait(5), "the call was not admitted"

    def _call(self) -> str:
        self.entered.set()
        assert self.release.wait(5)
        if self._fails:
            raise UpstreamUnavailable("down", status=500, answered=True)
        return "ok"

    def _run(self, breaker: CircuitBreaker) -> None:
        try:
            breaker.call(self._call)
        except BaseException as exc:  # kept for the test to read
            self.error = exc

    def finish(self) -> None:
        self.release.set()
        self._thread.join(5)


def failing() -> Any:
    raise UpstreamUnavailable("down", status=500, answered=True)


def test_a_call_admitted_while_closed_that_ends_during_the_trial_neither_frees_nor_decides_it() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=10, clock=clock, on_change=lambda *_: None)
    # given a slow call admitted while the breaker was closed
    straggler = HeldCall(breaker, fails=False)
    # and the breaker opened by another call's failure, then half-open after the cooldown
    with pytest.raises(UpstreamUnavailable):
        breaker.call(failing)
    assert breaker.state is BreakerState.OPEN
    clock.now = 11.0
    trial = HeldCall(breaker, fails=True)
    assert breaker.state is BreakerState.HALF_OPEN

    # when the straggler succeeds while the trial is still out
    straggler.finish()
    assert straggler.error is None

    # then the trial is still the only call let through, and the breaker is still half-open
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: "second trial")
    # and the trial's failure, not the straggler's success, decides: open again
    trial.finish()
    assert isinstance(trial.error, UpstreamUnavailable)
    assert breaker.state is BreakerState.OPEN


def test_a_call_admitted_while_closed_that_fails_during_the_trial_does_not_reopen_it() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=10, clock=clock, on_change=lambda *_: None)
    straggler = HeldCall(breaker, fails=True)
    with pytest.raises(UpstreamUnavailable):
        breaker.call(failing)
    clock.now = 11.0
    trial = HeldCall(breaker, fails=False)

    straggler.finish()

    assert breaker.state is BreakerState.HALF_OPEN
    trial.finish()
    assert breaker.state is BreakerState.CLOSED
