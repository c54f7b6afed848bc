"""The process's one Logger, Metrics and Tracer stay one when many threads ask for them first at once
(the local stack and the soak run invocations on threads; Lambda's own extensions may too)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from roamsync import observability

THREADS = 16


@pytest.fixture()
def fresh() -> Iterator[None]:
    """Forget the built objects (as a new process would), and switch threads as often as possible."""
    interval = sys.getswitchinterval()
    _forget()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        _forget()


def _forget() -> None:
    for name in ("get_logger", "get_metrics", "get_tracer"):
        getattr(observability, name).cache_clear()


def _first_use_at_once(build: Callable[[], Any]) -> set[int]:
    barrier = threading.Barrier(THREADS, timeout=10)

    def call(_: int) -> int:
        barrier.wait()
        return id(build())

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return set(pool.map(call, range(THREADS)))


@pytest.mark.parametrize("build", ["get_logger", "get_metrics", "get_tracer"])
@pytest.mark.usefixtures("fresh")
def test_sixteen_threads_asking_first_at_once_get_one_object(build: str) -> None:
    built = _first_use_at_once(getattr(observability, build))

    assert len(built) == 1
    assert built == {id(getattr(observability, build)())}
