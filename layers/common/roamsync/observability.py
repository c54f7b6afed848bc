"""The one Logger, Metrics and Tracer. Built on first use so an import costs nothing extra.

Powertools reads its own POWERTOOLS_* variables (service name, namespace, log level, tracing switch).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "roamsync"
NAMESPACE = "Roamsync"

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class _Once(Generic[T]):
    """`build()` called at most once per process, however many threads ask first at the same moment.

    functools.cache would let each racing thread build its own object (and keep only one); a second
    Logger or Metrics would then carry its own keys and buffered metrics. Checked once without the
    lock (the common case, already built), then again under it.
    """

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: T | None = None
        functools.update_wrapper(self, build)

    def __call__(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                value = self._value
                if value is None:
                    value = self._value = self._build()
        return value

    def built(self) -> bool:
        return self._value is not None

    def cache_clear(self) -> None:
        """Forget the object, so the next call builds a new one (tests only)."""
        with self._lock:
            self._value = None


_log_stream: IO[str] | None = None


def log_to(stream: IO[str]) -> None:
    """Send log lines to `stream` (the CLI keeps stdout for its own output). Call before logging."""
    global _log_stream  # noqa: PLW0603 - one logger per process
    _log_stream = stream
    if get_logger.built():
        for handler in get_logger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(stream)


@_Once
def get_logger() -> Logger:
    from aws_lambda_powertools import Logger

    return Logger(service=SERVICE, stream=_log_stream)


@_Once
def get_metrics() -> Metrics:
    from aws_lambda_powertools import Metrics

    return Metrics(namespace=NAMESPACE, service=SERVICE)


@_Once
def get_tracer() -> Tracer:
    # Importing the Tracer pulls in the X-Ray SDK; only handlers that run pay for it.
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


def add_counts(prefix: str, counts: Mapping[str, int]) -> None:
    """Publish a run's counts as metrics, e.g. SyncInserted, SyncDeactivated."""
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = get_metrics()
    for name, value in counts.items():
        metric = prefix + "".join(part.capitalize() for part in name.split("_"))
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=value)


def add_percent(name: str, value: float) -> None:
    """One Percent metric (the mapping health score), published with the invocation's counts."""
    from aws_lambda_powertools.metrics import MetricUnit

    get_metrics().add_metric(name=name, unit=MetricUnit.Percent, value=value)


def add_count(name: str, value: float = 1, **dimensions: str) -> None:
    """One Count metric; dimensions go into their own metric set so they do not leak into others."""
    from aws_lambda_powertools.metrics import MetricUnit

    if not dimensions:
        get_metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    from aws_lambda_powertools.metrics import single_metric

    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as metric:
        for key, val in dimensions.items():
            metric.add_dimension(name=key, value=val)


def tracing_enabled() -> bool:
    """False when POWERTOOLS_TRACE_DISABLED says so (as Powertools reads it), else True."""
    from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

    return not resolve_truthy_env_var_choice(env=os.getenv("POWERTOOLS_TRACE_DISABLED", "false"))


def lambda_entrypoint(*, correlation_id_path: str | None = None) -> Callable[[F], F]:
    """The fixed decorator stack for every handler: logger context, metrics flush, tracing.

    Outermost first: inject_lambda_context, log_metrics, capture_lambda_handler, so the logger has the
    Lambda context before anything logs and metrics are flushed even when the handler raises.
    """

    def decorate(handler: F) -> F:
        def build() -> Callable[[Any, Any], Any]:
            # The Tracer loads the X-Ray SDK even when tracing is off: only wrap when it is on.
            inner = get_tracer().capture_lambda_handler(handler) if tracing_enabled() else handler
            inner = get_metrics().log_metrics(inner)
            return get_logger().inject_lambda_context(
                correlation_id_path=correlation_id_path, log_event=False
            )(inner)

        wrapped = _Once(build)  # built at the first invocation, not at import

        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            return wrapped()(event, context)

        return wrapper  # type: ignore[return-value]

    return decorate
