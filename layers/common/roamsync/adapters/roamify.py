"""Roamify HTTP client: the only code that talks to Roamify.

Every call has a connect and read timeout and, on top of them, one wall-clock bound for the whole
exchange (`adapters.http_deadline`): an answer that drips in slowly is cut off at that bound like one
that never comes. Every transport failure is a typed upstream error (`domain.errors`): refused
connections (`UpstreamUnreachable`: nothing was sent), no answer in time (`UpstreamTimeout`), an
answer cut off or unreadable (`UpstreamBadAnswer`), and HTTP errors by status. Bodies are read with
`domain.json_text`, which turns any JSON Python cannot take into one error type.

Only safe calls (GETs) are retried, with capped exponential backoff and full jitter, on connection
errors, timeouts, broken answers, 429 (honouring Retry-After, for every thread of this client) and
5xx. Order creation is never retried here: the order service looks the order up first.

A GET may be given `remaining` (seconds its caller has left): then every attempt's timeouts fit in
what remains, no wait (a Retry-After included) outlasts it, and once too little is left the last
error is raised instead of another attempt.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests
import urllib3.exceptions
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.stop import stop_base

from roamsync.adapters.http_deadline import Deadline, DeadlineAdapter
from roamsync.domain.errors import (
    RateLimited,
    UpstreamAuthError,
    UpstreamBadAnswer,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    UpstreamUnreachable,
)
from roamsync.domain.json_text import UnreadableJson, parse_json
from roamsync.domain.packages import CatalogPage
from roamsync.observability import get_logger

PACKAGES_PATH = "/api/esim/packages"
ORDER_PATH = "/api/esim/order"
ORDERS_PATH = "/api/esim/orders"
HEALTH_PATH = "/api/health"
# Guards against an upstream that ignores `page` and returns the same full page forever.
MAX_CATALOG_PAGES = 5_000
# A Retry-After longer than this is not waited out inside one call.
MAX_RETRY_AFTER_SECONDS = 30.0
# With a deadline, an attempt is only started when at least this much time is left for it.
MIN_ATTEMPT_SECONDS = 0.25
# No Roamify answer roamsync reads comes near this; a larger one is refused rather than held in memory.
MAX_BODY_BYTES = 32 * 1024 * 1024

RETRYABLE = (UpstreamTimeout, UpstreamUnavailable, RateLimited)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_base: float = 0.25
    backoff_cap: float = 8.0

    def wait(self, state: RetryCallState) -> float:
        """Full jitter: uniform(0, min(cap, base * 2^n)); none after a 429 that carried Retry-After,
        which the client's slow-down pause makes every call (this one included) wait out instead."""
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return 0.0
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (state.attempt_number - 1)))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not security  # nosec B311


@dataclass(frozen=True)
class Answer:
    """An HTTP answer read whole: status, headers and the raw body."""

    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON. Raises UnreadableJson."""
        return parse_json(self.body)

    def retry_after(self) -> float | None:
        value = next((v for k, v in self.headers.items() if k.lower() == "retry-after"), None)
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return None  # an HTTP date: fall back to our own backoff


def _message(answer: Answer) -> str:
    try:
        body = answer.json()
    except UnreadableJson:
        return answer.body[:200].decode("utf-8", "replace") or http.client.responses.get(answer.status, "")
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])[:500]
    return http.client.responses.get(answer.status, "")


def _is_roamify_error(answer: Answer) -> bool:
    """True when the body is Roamify's own error, ``{"status": "failed", ...}`` (not a proxy's page)."""
    try:
        body = answer.json()
    except UnreadableJson:
        return False
    return isinstance(body, dict) and body.get("status") == "failed"


def error_for(answer: Answer) -> UpstreamError:
    """Translate a non-2xx Roamify answer into a typed domain error.

    A 5xx or a 404 has `answered` True only when its body is Roamify's own JSON error.
    """
    status = answer.status
    text = f"Roamify {answer.method} {answer.path} -> {status}: {_message(answer)}"
    if status in (401, 403):
        return UpstreamAuthError(text, status=status)
    if status == 404:
        return UpstreamNotFound(text, status=status, answered=_is_roamify_error(answer))
    if status == 429:
        return RateLimited(text, retry_after=answer.retry_after())
    if status >= 500:
        return UpstreamUnavailable(text, status=status, answered=_is_roamify_error(answer))
    return UpstreamRejected(text, status=status)


def _transport_error(exc: BaseException, deadline: Deadline, what: str) -> UpstreamError:
    """The typed upstream error for a failure below HTTP (connection, socket, body)."""
    kind = type(exc).__name__
    if deadline.expired:
        return UpstreamTimeout(f"{what}: no whole answer within {deadline.seconds:.1f} s")
    if isinstance(exc, requests.ConnectTimeout):
        return UpstreamUnreachable(f"{what}: could not connect in time ({kind})")
    if isinstance(exc, requests.Timeout):
        return UpstreamTimeout(f"{what} timed out: {kind}")
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(exc, requests.ConnectionError) and isinstance(
        reason, urllib3.exceptions.NewConnectionError
    ):
        return UpstreamUnreachable(f"{what}: unreachable ({type(reason).__name__})")
    # Cut off mid-body, reset, undecodable content, a protocol error: the request may have been done.
    return UpstreamBadAnswer(f"{what}: the answer broke off or could not be read ({kind})")


class _OutOfTime(stop_base):
    """Stop retrying when the wait ahead (a Retry-After included) would leave no time for another
    attempt. Tenacity asks after computing the wait, so `upcoming_sleep` is the wait in question."""

    def __init__(self, remaining: Callable[[], float]) -> None:
        self._remaining = remaining

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._remaining() - retry_state.upcoming_sleep < MIN_ATTEMPT_SECONDS


class RoamifyClient:
    """Typed access to the Roamify endpoints roamsync uses. Raises `UpstreamError` subclasses.

    Safe to share between threads (the catalog crawl reads pages concurrently).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        call_timeout: float | None = None,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        page_concurrency: int = 1,
        max_body_bytes: int = MAX_BODY_BYTES,
        api_key_source: Callable[[], str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = (connect_timeout, read_timeout)
        # One attempt's whole exchange, headers and body included; by default what its timeouts allow.
        self._call_timeout = call_timeout or connect_timeout + read_timeout
        self._retry = retry or RetryPolicy()
        self.page_concurrency = max(1, page_concurrency)
        self._max_body_bytes = max_body_bytes
        if session is None:
            session = requests.Session()
            adapter = DeadlineAdapter(pool_maxsize=max(10, 2 * self.page_concurrency))
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self._session = session
        self._session.headers.update({"Authorization": f"Bearer {api_key}", "Accept": "application/json"})
        # Where the key is read again after a 401 (Secrets Manager, bypassing its cache): Roamify
        # kills a rotated key at once, so the first 401 after a rotation is the cue.
        self._api_key = api_key
        self._api_key_source = api_key_source
        self._sleep = sleep
        self._lock = threading.Lock()
        self._slow_down_until = 0.0  # monotonic time before which no call is sent (a 429's Retry-After)

    # --- plumbing -------------------------------------------------------------------------

    def _exchange(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        timeout: tuple[float, float] | None = None,
        seconds: float | None = None,
    ) -> Answer:
        """Send one request and read its whole answer within `seconds` (default: the client's call
        timeout). Raises the typed error of a transport failure; HTTP errors are returned."""
        what = f"Roamify {method} {path}"
        if seconds is None:  # no caller deadline (a sync): wait Roamify's pause out, then a full attempt
            self._wait_if_asked_to_slow_down(None, what)
            budget = self._call_timeout
        else:
            budget = seconds - self._wait_if_asked_to_slow_down(seconds, what)
        connect, read = timeout or self._timeout
        deadline = Deadline(budget)
        with deadline:
            try:
                response = self._session.request(
                    method,
                    self.base_url + path,
                    params=params,
                    json=body,
                    timeout=(min(connect, budget), min(read, budget)),
                    stream=True,
                )
                try:
                    content = self._read_body(response, what)
                finally:
                    response.close()
            except UpstreamError:
                raise
            except (
                requests.RequestException,
                urllib3.exceptions.HTTPError,
                http.client.HTTPException,
                OSError,
            ) as exc:
                raise _transport_error(exc, deadline, what) from None
        if deadline.expired:
            # The timer fired as the answer completed: it may have shut a connection now back in the
            # pool, so the pools are dropped; the answer itself arrived whole and stands.
            self._drop_connections()
        headers = dict(response.headers.items())
        answer = Answer(method, path, response.status_code, headers, content)
        if answer.status == 429:
            self._slow_down(answer.retry_after())
        return answer

    def _read_body(self, response: requests.Response, what: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=64 * 1024):
            size += len(chunk)
            if size > self._max_body_bytes:
                raise UpstreamBadAnswer(f"{what}: answer larger than {self._max_body_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _drop_connections(self) -> None:
        for adapter in self._session.adapters.values():
            poolmanager = getattr(adapter, "poolmanager", None)
            if poolmanager is not None:
                poolmanager.clear()

    def _slow_down(self, retry_after: float | None) -> None:
        """Hold every call of this client (every crawl thread) back for Roamify's Retry-After."""
        pause = min(
            retry_after if retry_after is not None else self._retry.backoff_base, MAX_RETRY_AFTER_SECONDS
        )
        with self._lock:
            self._slow_down_until = max(self._slow_down_until, time.monotonic() + pause)

    def _wait_if_asked_to_slow_down(self, budget: float | None, what: str) -> float:
        """Wait out a Retry-After another call received; returns the seconds waited. RateLimited when
        the wait would leave a call with a `budget` no time (None: no deadline, always wait)."""
        with self._lock:
            pause = self._slow_down_until - time.monotonic()
        if pause <= 0:
            return 0.0
        if budget is not None and budget - pause < MIN_ATTEMPT_SECONDS:
            raise RateLimited(
                f"{what} not sent: Roamify asked to slow down for {pause:.1f} s", retry_after=pause
            )
        self._sleep(pause)
        return pause

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        timeout: tuple[float, float] | None = None,
        seconds: float | None = None,
    ) -> Any:
        """One exchange whose answer must be a 2xx JSON body; returns the decoded body.

        A 401 is sent once more with the key read again from its source, when that gives another
        key (a rotation) and the call's `seconds` leave time for it; a 401 changes nothing upstream.
        """
        used_key = self._api_key
        started = time.monotonic()
        answer = self._exchange(method, path, params=params, body=body, timeout=timeout, seconds=seconds)
        if answer.status == 401 and self._renewed_key(used_key):
            left = None if seconds is None else seconds - (time.monotonic() - started)
            if left is None or left >= MIN_ATTEMPT_SECONDS:
                get_logger().warning("roamify refused the key; sent again with the key read anew")
                answer = self._exchange(method, path, params=params, body=body, timeout=timeout, seconds=left)
        if answer.status >= 400:
            raise error_for(answer)
        try:
            return answer.json()
        except UnreadableJson as exc:
            raise UpstreamBadAnswer(
                f"Roamify {method} {path} answered {answer.status}: {exc}", status=answer.status
            ) from None

    def _renewed_key(self, used_key: str) -> bool:
        """Whether a key other than `used_key` is now in use: another call already renewed it, or
        the key source, read again now, gives a new one. Raises what the source raises."""
        if self._api_key_source is None:
            return False
        with self._lock:
            if self._api_key != used_key:
                return True
        fresh = self._api_key_source()
        with self._lock:
            if not fresh or fresh == self._api_key:
                return False
            self._api_key = fresh
            self._session.headers["Authorization"] = f"Bearer {fresh}"
        return True

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

        def attempt() -> Any:
            timeout = None
            seconds = None
            if remaining is not None:
                left = remaining()
                timeout, seconds = self._bounded_timeout(left), min(self._call_timeout, left)
            return self._send("GET", path, params=params, timeout=timeout, seconds=seconds)

        retrying = Retrying(
            stop=stop,
            wait=self._retry.wait,
            retry=retry_if_exception_type(RETRYABLE),
            sleep=self._sleep,
            reraise=True,
            before_sleep=self._log_retry,
        )
        return retrying(attempt)

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
            answer = self._exchange("GET", HEALTH_PATH, timeout=(timeout, timeout), seconds=timeout)
        except UpstreamError:
            return False
        return 200 <= answer.status < 300

    def catalog_page(
        self, number: int, page_size: int = 50, *, remaining: Callable[[], float] | None = None
    ) -> CatalogPage:
        """Page `number` of `GET /api/esim/packages` (retried per the policy, within `remaining`).
        Raises UpstreamError."""
        params = {"page": number, "pageSize": page_size}
        nodes = _country_nodes(self._get(PACKAGES_PATH, params, remaining=remaining))
        entries = sum(_entry_count(node) for node in nodes)
        return CatalogPage(number=number, nodes=nodes, listings=entries)

    def iter_catalog_pages(
        self,
        page_size: int = 50,
        *,
        concurrency: int | None = None,
        remaining: Callable[[], float] | None = None,
    ) -> Iterator[CatalogPage]:
        """Every page of the catalog, up to `concurrency` (default: the client's) read at a time,
        yielded as they arrive (not in page order).

        A page short by raw count (`CatalogPage.is_last`) is the last one only when the page after it
        confirms it: empty, a repeat of an earlier page, or failing after its retries. Roamify does
        not document a maximum pageSize, so a short page followed by more listings means Roamify
        served fewer per page than asked, and paging goes on. An empty page ends paging. Pages
        asked for ahead, beyond the end, neither fail the crawl nor count as repeats, but are still
        yielded when they hold new entries (what Roamify lists is real, whichever page shows it).
        Before the end, a page that repeats another (Roamify ignoring `page`) or a crawl past
        MAX_CATALOG_PAGES raises UpstreamBadAnswer, and a page that still fails after its retries
        raises its UpstreamError (`page` set); pages yielded before stay valid. With `remaining`
        (the seconds the caller has left), no page's call outlasts it.
        """
        crawl = _Crawl(page_size)
        workers = max(1, concurrency or self.page_concurrency)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="roamify-page")
        running: dict[Future[CatalogPage], int] = {}
        try:
            while True:
                while len(running) < workers and crawl.may_ask(crawl.next_number):
                    if crawl.next_number > MAX_CATALOG_PAGES:
                        raise UpstreamBadAnswer(f"Roamify catalog exceeded {MAX_CATALOG_PAGES} pages")
                    future = pool.submit(self.catalog_page, crawl.next_number, page_size, remaining=remaining)
                    running[future] = crawl.next_number
                    crawl.next_number += 1
                if not running:
                    crawl.raise_unresolved()
                    return
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: running[f]):
                    number = running.pop(future)
                    try:
                        page = future.result()
                    except UpstreamError as exc:
                        exc.page = number
                        crawl.failed(number, exc)
                        continue
                    if crawl.arrived(page):
                        yield page
                crawl.settle()
                if crawl.end is not None:  # pages asked for ahead, beyond the end: not waited for
                    for future in [f for f, n in running.items() if n > crawl.end]:
                        future.cancel()
                        del running[future]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def package_nodes(self, package_id: str, *, remaining: Callable[[], float] | None = None) -> list[Any]:
        """The country nodes listing `package_id`; empty only when Roamify said it does not list it.

        "Not listed" is a 2xx whose `data.packages` lists nothing at all, or a 404 carrying
        Roamify's own JSON error; an answer listing only other packages raises UpstreamBadAnswer.
        Anything else Roamify could not answer clearly raises its
        UpstreamError: a proxy's 404, a broken answer, or entries that cannot be read (a `null`, a
        record without a packageId), since one of them might be the package.
        `remaining`: the seconds the caller has left (see `_get`).
        """
        try:
            body = self._get(PACKAGES_PATH, {"packageId": package_id}, remaining=remaining)
        except UpstreamNotFound as exc:
            if exc.answered:
                return []
            raise
        nodes = _country_nodes(body)
        listing = [n for n in nodes if any(_matches(p, package_id) for p in _packages_of(n))]
        if not listing and any(_unreadable_entries(n) for n in nodes):
            raise UpstreamBadAnswer(f"Roamify's listing of {package_id} holds entries that cannot be read")
        if not listing and any(_entry_count(n) for n in nodes):
            # Other packages but not this one: the filter was not applied (Roamify's docs say other
            # filters are "typically" ignored beside packageId; a proxy may drop it), so this says
            # nothing about the package. Only an answer listing nothing at all is a "not listed".
            raise UpstreamBadAnswer(
                f"Roamify's answer for packageId={package_id} lists other packages only: filter not applied"
            )
        return listing

    def lookup_packages(
        self,
        package_ids: Iterable[str],
        *,
        concurrency: int | None = None,
        remaining: Callable[[], float] | None = None,
    ) -> Iterator[tuple[str, list[Any] | UpstreamError]]:
        """`package_nodes` for each id, up to `concurrency` at a time (default: the client's), in the
        order they complete: (id, its nodes — empty when not listed) or (id, the error that left it
        unanswered). Never raises for one id's failure."""
        workers = max(1, concurrency or self.page_concurrency)

        def one(package_id: str) -> tuple[str, list[Any] | UpstreamError]:
            try:
                return package_id, self.package_nodes(package_id, remaining=remaining)
            except UpstreamError as exc:
                return package_id, exc

        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="roamify-lookup")
        try:
            pending = iter(package_ids)
            running: set[Future[tuple[str, list[Any] | UpstreamError]]] = set()
            while True:
                for package_id in pending:
                    running.add(pool.submit(one, package_id))
                    if len(running) >= workers:
                        break
                if not running:
                    return
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def create_order(
        self, package_id: str, quantity: int, reference_id: str, *, timeout: tuple[float, float] | None = None
    ) -> dict[str, Any]:
        """`POST /api/esim/order`, exactly once. A 5xx or timeout leaves the outcome unknown."""
        body = {"items": [{"packageId": package_id, "quantity": quantity}], "referenceId": reference_id}
        seconds = sum(timeout) if timeout else None
        return _order_data(self._send("POST", ORDER_PATH, body=body, timeout=timeout, seconds=seconds))

    def find_order(
        self,
        *,
        reference_id: str | None = None,
        order_id: str | None = None,
        remaining: Callable[[], float] | None = None,
    ) -> dict[str, Any] | None:
        """The order Roamify holds under `reference_id` (or `order_id`); None only when Roamify
        said, in a way it documents, that there is none. Raises UpstreamError when it could not.

        By referenceId, the order list filtered by it is asked first: `data.orders == []` is the
        one documented "none". Should the list fail (or ignore the filter), the single lookup
        `GET /api/esim/order` is asked: an order it answers is found, but its 404 / null / empty
        answer is documented nowhere and proves nothing (UpstreamBadAnswer). By orderId only the
        single lookup exists; there a 404 carrying Roamify's JSON error counts as none.
        `remaining`: the seconds the caller has left (see `_get`).
        """
        if not reference_id:
            try:
                return _order_data(self._get(ORDER_PATH, {"orderId": order_id}, remaining=remaining))
            except UpstreamNotFound as exc:
                if exc.answered:
                    return None
                raise
        listed: UpstreamError | None = None
        try:
            orders = _listed_orders(
                self._get(ORDERS_PATH, {"referenceId": reference_id}, remaining=remaining)
            )
        except UpstreamError as exc:
            listed = exc
        else:
            matching = [o for o in orders if o.get("referenceId") == reference_id and o.get("id")]
            if matching:
                return matching[0]
            if not orders:
                return None
            # The list answered other orders only: its filter was not honoured; ask the single lookup.
        try:
            return _order_data(self._get(ORDER_PATH, {"referenceId": reference_id}, remaining=remaining))
        except (UpstreamNotFound, UpstreamBadAnswer) as exc:
            raise UpstreamBadAnswer(
                f"Roamify could not say whether order {reference_id} exists "
                f"(list: {listed or 'filter not honoured'}; single lookup: {exc})"
            ) from None

    def current_price(
        self, package_id: str, *, remaining: Callable[[], float] | None = None
    ) -> Decimal | None:
        """The price Roamify lists `package_id` at now; None when it does not list it (see
        `package_nodes`). UpstreamBadAnswer when a listing of it carries no readable price."""
        nodes = self.package_nodes(package_id, remaining=remaining)
        if not nodes:
            return None
        for node in nodes:
            for record in _packages_of(node):
                if _matches(record, package_id):
                    price = record.get("price")
                    if isinstance(price, bool) or not isinstance(price, int | float | str):
                        break
                    try:
                        value = Decimal(str(price))
                    except ArithmeticError:
                        break
                    if value.is_finite() and value >= 0:
                        return value
                    break
        raise UpstreamBadAnswer(f"Roamify lists {package_id} without a readable price")


def _country_nodes(body: Any) -> list[Any]:
    if not isinstance(body, dict):
        raise UpstreamBadAnswer("Roamify packages response is not an object")
    data = body.get("data")
    packages = data.get("packages") if isinstance(data, dict) else None
    if not isinstance(packages, list):
        raise UpstreamBadAnswer("Roamify packages response has no data.packages list")
    return packages


def _entry_count(node: Any) -> int:
    """Entries a node holds as Roamify sent them (a `null` is an entry too); a node that is not an
    object, or has no list, counts as one entry: something was there."""
    records = node.get("packages") if isinstance(node, dict) else None
    return len(records) if isinstance(records, list) else 1


def _packages_of(node: Any) -> list[Any]:
    records = node.get("packages") if isinstance(node, dict) else None
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def _unreadable_entries(node: Any) -> bool:
    records = node.get("packages") if isinstance(node, dict) else None
    if not isinstance(records, list):
        return True
    return any(not isinstance(r, dict) or not isinstance(r.get("packageId"), str) for r in records)


def _hashable(value: Any) -> Any:
    """`value` if it can key a set (a str, a number), else its repr: an id sent as a list or an
    object is still part of what a page holds, never a TypeError."""
    return value if isinstance(value, str | int | float | bool | type(None)) else repr(value)


def _signature(page: CatalogPage) -> tuple[Any, ...]:
    """What identifies a page's content: each entry's node and packageId, in order (None for what
    cannot be read). The node matters: a regional plan is listed, in the same order, under each of
    its countries, so two pages can hold the same packageIds under different nodes."""
    ids: list[Any] = []
    for node in page.nodes:
        where = (
            tuple(_hashable(node.get(k)) for k in ("id", "countrySlug", "countryCode"))
            if isinstance(node, dict)
            else None
        )
        records = node.get("packages") if isinstance(node, dict) else None
        for record in records if isinstance(records, list) else [node]:
            ids.append((where, _hashable(record.get("packageId")) if isinstance(record, dict) else None))
    return tuple(ids)


class _Crawl:
    """Where a paged crawl stands: which pages arrived short, failed or repeated, and where the
    catalog ends once that is known (see `RoamifyClient.iter_catalog_pages`)."""

    def __init__(self, page_size: int) -> None:
        self.page_size = page_size
        self.next_number = 1
        self.end: int | None = None  # the last page of the catalog, once confirmed
        self.full: set[int] = set()  # pages that arrived with new entries and were not short
        self.short: set[int] = set()  # pages that arrived short, their end still to be confirmed
        self.ended: set[int] = set()  # pages that arrived empty or as a repeat: nothing new from them on
        self.failures: dict[int, UpstreamError] = {}  # failed pages waiting on what precedes them
        self.signatures: dict[tuple[Any, ...], int] = {}

    def may_ask(self, number: int) -> bool:
        """Whether page `number` is worth asking for: before the end, and not beyond a short page
        whose successor has not answered yet (that successor decides whether there is more)."""
        if self.end is not None:
            return number <= self.end
        pending_short = [n for n in self.short if n + 1 not in self.full]
        return not pending_short or number <= min(pending_short) + 1

    def arrived(self, page: CatalogPage) -> bool:
        """Record a page; True when it holds something to yield."""
        number = page.number
        if not page.nodes or not page.listings:  # nothing listed at all: past the end
            self.ended.add(number)
            return False
        signature = _signature(page)
        seen = self.signatures.get(signature)
        if seen is not None and seen < number:
            self._repeat(number, of=seen)
            return False
        if seen is not None and seen > number:  # the later page arrived first: it is the repeat
            self.full.discard(seen)
            self.short.discard(seen)
            self._repeat(seen, of=number)
        self.signatures[signature] = number
        (self.short if page.is_last(self.page_size) else self.full).add(number)
        return True

    def failed(self, number: int, exc: UpstreamError) -> None:
        self.failures[number] = exc

    def _repeat(self, number: int, *, of: int) -> None:
        self.ended.add(number)
        repeat = UpstreamBadAnswer(
            f"Roamify returned page {of} again as page {number}: paging is not honoured"
        )
        repeat.page = number
        self.failures[number] = repeat

    def settle(self) -> None:
        """Decide what the answers so far prove: the end, or a failure to raise."""
        # A short page followed by more listings was not the end: Roamify serves fewer per page
        # than asked (it documents no maximum pageSize).
        for number in sorted(self.short):
            if number + 1 in self.full or number + 1 in self.short:
                self.short.discard(number)
                self.full.add(number)
        for number in sorted({*self.ended, *self.failures}):
            if self.end is not None and number > self.end:
                continue
            before = number - 1
            if number in self.ended and number not in self.failures:  # an empty page
                self.end = before if self.end is None else min(self.end, before)
            elif before == 0 or before in self.full:
                raise self.failures[number]  # a failure or repeat right after a full page: real
            elif before in self.short:  # nothing more after a short page: the end
                self.end = before if self.end is None else min(self.end, before)

    def raise_unresolved(self) -> None:
        """Nothing is running and nothing more may be asked for: a failure still waiting is real."""
        self.settle()
        for number in sorted(self.failures):
            if self.end is None or number <= self.end:
                raise self.failures[number]


def _matches(record: dict[str, Any], package_id: str) -> bool:
    return record.get("packageId") == package_id


def _listed_orders(body: Any) -> list[dict[str, Any]]:
    data = body.get("data") if isinstance(body, dict) else None
    orders = data.get("orders") if isinstance(data, dict) else None
    if not isinstance(orders, list) or not all(isinstance(o, dict) for o in orders):
        raise UpstreamBadAnswer("Roamify order list has no data.orders list of orders")
    return orders


def _order_data(body: Any) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not data.get("id"):
        raise UpstreamBadAnswer("Roamify order response has no data.id")
    return data
