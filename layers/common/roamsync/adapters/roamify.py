"""Roamify HTTP client: the only code that talks to Roamify.

Every call has a connect and read timeout. Only safe calls (GETs) are retried, with capped
exponential backoff and full jitter, on connection errors, timeouts, 429 (honouring Retry-After)
and 5xx. Order creation is never retried here: the order service looks the order up first.

A GET may be given `remaining` (seconds its caller has left): then every attempt's timeouts fit in
what remains, no wait (a Retry-After included) outlasts it, and once too little is left the last
error is raised instead of another attempt.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.stop import stop_base

from roamsync.domain.errors import (
    RateLimited,
    UpstreamAuthError,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from roamsync.domain.packages import CatalogPage
from roamsync.observability import get_logger

PACKAGES_PATH = "/api/esim/packages"
ORDER_PATH = "/api/esim/order"
HEALTH_PATH = "/api/health"
# Guards against an upstream that ignores `page` and returns the same full page forever.
MAX_CATALOG_PAGES = 5_000
# A Retry-After longer than this is not waited out inside one call.
MAX_RETRY_AFTER_SECONDS = 30.0
# With a deadline, an attempt is only started when at least this much time is left for it.
MIN_ATTEMPT_SECONDS = 0.25

RETRYABLE = (UpstreamTimeout, UpstreamUnavailable, RateLimited)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_base: float = 0.25
    backoff_cap: float = 8.0

    def wait(self, state: RetryCallState) -> float:
        """Retry-After when Roamify gave one, else full jitter: uniform(0, min(cap, base * 2^n))."""
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(exc.retry_after, MAX_RETRY_AFTER_SECONDS)
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (state.attempt_number - 1)))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not security  # nosec B311


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return response.reason or ""


def _is_roamify_error(response: requests.Response) -> bool:
    """True when the body is Roamify's own error, ``{"status": "failed", ...}`` (not a proxy's page)."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("status") == "failed"


def error_for(response: requests.Response) -> UpstreamError:
    """Translate a non-2xx Roamify response into a typed domain error.

    A 5xx is UpstreamUnavailable with `answered` True only when its body is Roamify's own JSON error.
    """
    status = response.status_code
    text = f"Roamify {response.request.method} {response.request.path_url} -> {status}: {_message(response)}"
    if status in (401, 403):
        return UpstreamAuthError(text, status=status)
    if status == 404:
        return UpstreamNotFound(text, status=status)
    if status == 429:
        return RateLimited(text, retry_after=_retry_after(response))
    if status >= 500:
        return UpstreamUnavailable(text, status=status, answered=_is_roamify_error(response))
    return UpstreamRejected(text, status=status)


class _OutOfTime(stop_base):
    """Stop retrying when the wait ahead (a Retry-After included) would leave no time for another
    attempt. Tenacity asks after computing the wait, so `upcoming_sleep` is the wait in question."""

    def __init__(self, remaining: Callable[[], float]) -> None:
        self._remaining = remaining

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._remaining() - retry_state.upcoming_sleep < MIN_ATTEMPT_SECONDS


class RoamifyClient:
    """Typed access to the Roamify endpoints roamsync uses. Raises `UpstreamError` subclasses."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = (connect_timeout, read_timeout)
        self._retry = retry or RetryPolicy()
        self._session = session or requests.Session()
        self._session.headers.update({"Authorization": f"Bearer {api_key}", "Accept": "application/json"})
        self._sleep = sleep
        self.requests_made = 0

    # --- plumbing -------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        timeout: tuple[float, float] | None = None,
    ) -> Any:
        self.requests_made += 1
        try:
            response = self._session.request(
                method, self.base_url + path, params=params, json=body, timeout=timeout or self._timeout
            )
        except requests.Timeout as exc:
            raise UpstreamTimeout(f"Roamify {method} {path} timed out: {type(exc).__name__}") from None
        except requests.ConnectionError as exc:
            raise UpstreamTimeout(f"Roamify {method} {path} unreachable: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise error_for(response)
        try:
            return response.json()
        except ValueError:
            raise UpstreamUnavailable(
                f"Roamify {method} {path} answered non-JSON", status=response.status_code
            ) from None

    def _get(
        self, path: str, params: dict[str, Any] | None = None, *, remaining: Callable[[], float] | None = None
    ) -> Any:
        """A GET, retried per the policy; the last error is raised when the attempts run out.

        With `remaining`, the attempts, their timeouts and the waits between them all fit in the
        seconds it reports (see the module docstring); UpstreamTimeout when none is left at all.
        """
        stop: stop_base = stop_after_attempt(self._retry.max_attempts)
        if remaining is not None:
            if remaining() < MIN_ATTEMPT_SECONDS:
                raise UpstreamTimeout(f"Roamify GET {path} not sent: no time was left for it")
            stop = stop | _OutOfTime(remaining)

        def timeout() -> tuple[float, float] | None:
            # None: the client's own timeouts. With a deadline, each attempt gets what is left.
            return self._bounded_timeout(remaining()) if remaining is not None else None

        retrying = Retrying(
            stop=stop,
            wait=self._retry.wait,
            retry=retry_if_exception_type(RETRYABLE),
            sleep=self._sleep,
            reraise=True,
            before_sleep=self._log_retry,
        )
        return retrying(lambda: self._send("GET", path, params=params, timeout=timeout()))

    def _bounded_timeout(self, left: float) -> tuple[float, float]:
        """The configured (connect, read) timeouts, shrunk so that both together fit in `left`."""
        connect, read = self._timeout
        if connect + read <= left:
            return connect, read
        connect = min(connect, left / 2)
        return connect, max(0.01, min(read, left - connect))

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        get_logger().warning(
            "roamify call retried",
            extra={
                "attempt": state.attempt_number,
                "error_kind": type(exc).__name__,
                "wait_seconds": round(state.upcoming_sleep, 3),
            },
        )

    # --- endpoints ------------------------------------------------------------------------

    def healthy(self, timeout: float = 2.0) -> bool:
        """True when `GET /api/health` answers 2xx within `timeout`; never raises."""
        try:
            self._send("GET", HEALTH_PATH, timeout=(timeout, timeout))
        except UpstreamError:
            return False
        return True

    def iter_catalog_pages(self, page_size: int = 50) -> Iterator[CatalogPage]:
        """Every page of `GET /api/esim/packages`, until one holds fewer than `page_size` packages.

        A page that still fails after the retries raises its UpstreamError; pages already yielded
        stay valid, so the caller knows exactly how far the snapshot got.
        """
        previous_ids: list[str] | None = None
        for number in range(1, MAX_CATALOG_PAGES + 1):
            body = self._get(PACKAGES_PATH, {"page": number, "pageSize": page_size})
            nodes = _country_nodes(body)
            ids = [str(p.get("packageId")) for n in nodes if isinstance(n, dict) for p in _packages_of(n)]
            if ids and ids == previous_ids:
                raise UpstreamUnavailable(f"Roamify returned page {number} twice: paging is not honoured")
            previous_ids = ids
            yield CatalogPage(number=number, nodes=nodes, listings=len(ids))
            if len(ids) < page_size:
                return
        raise UpstreamUnavailable(f"Roamify catalog exceeded {MAX_CATALOG_PAGES} pages")

    def package_nodes(self, package_id: str, *, remaining: Callable[[], float] | None = None) -> list[Any]:
        """The country nodes listing `package_id` (empty when Roamify does not know it).

        `remaining`: the seconds the caller has left; the call (retries and waits included) keeps
        inside them, raising the last UpstreamError (or UpstreamTimeout) when they run out.
        """
        try:
            body = self._get(PACKAGES_PATH, {"packageId": package_id}, remaining=remaining)
        except UpstreamNotFound:
            return []
        return [n for n in _country_nodes(body) if any(_matches(p, package_id) for p in _packages_of(n))]

    def create_order(
        self, package_id: str, quantity: int, reference_id: str, *, timeout: tuple[float, float] | None = None
    ) -> dict[str, Any]:
        """`POST /api/esim/order`, exactly once. A 5xx or timeout leaves the outcome unknown."""
        body = {"items": [{"packageId": package_id, "quantity": quantity}], "referenceId": reference_id}
        return _order_data(self._send("POST", ORDER_PATH, body=body, timeout=timeout))

    def find_order(
        self, *, reference_id: str | None = None, order_id: str | None = None
    ) -> dict[str, Any] | None:
        """`GET /api/esim/order` by referenceId or orderId; None when Roamify has no such order."""
        params = {"referenceId": reference_id} if reference_id else {"orderId": order_id}
        try:
            return _order_data(self._get(ORDER_PATH, params))
        except UpstreamNotFound:
            return None


def _country_nodes(body: Any) -> list[Any]:
    if not isinstance(body, dict):
        raise UpstreamUnavailable("Roamify packages response is not an object")
    data = body.get("data")
    packages = data.get("packages") if isinstance(data, dict) else None
    if not isinstance(packages, list):
        raise UpstreamUnavailable("Roamify packages response has no data.packages list")
    return packages


def _packages_of(node: Any) -> list[Any]:
    records = node.get("packages") if isinstance(node, dict) else None
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def _matches(record: dict[str, Any], package_id: str) -> bool:
    return record.get("packageId") == package_id


def _order_data(body: Any) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not data.get("id"):
        raise UpstreamUnavailable("Roamify order response has no data.id")
    return data
