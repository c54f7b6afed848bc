"""The composition root: builds the adapters the handlers hand to services, lazily, once per container.

Tests and the CLI build their own `Container` (or replace parts of one); nothing here runs at import.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from roamsync.settings import Settings, get_settings

if TYPE_CHECKING:
    from roamsync.adapters.dynamo import MyPackageRepository, PackageRepository, RunRepository, SyncLock
    from roamsync.adapters.invoker import LambdaAsyncInvoker
    from roamsync.adapters.orders import OrderRepository
    from roamsync.adapters.roamify import RoamifyClient
    from roamsync.adapters.schedule import ScheduleRule
    from roamsync.adapters.validation_cache import ValidationCache
    from roamsync.domain.runs import Run, Trigger
    from roamsync.services.checkout import CheckoutAnswer
    from roamsync.services.orders import CircuitBreaker, OrderPolicy, OrderPorts
    from roamsync.services.ports import Progress
    from roamsync.services.status import CachedCheck
    from roamsync.services.sync import SyncOutcome, SyncStart


# Checkout waits on Roamify while a shopper waits on checkout: a tighter budget than the sync's.
# Timeouts and retries alone do not bound it (2 x (3.05 s connect + 3 s read) + backoff, or a 429's
# Retry-After, can exceed the function's 10 s), so every call is also held to the invocation's
# remaining time less a margin for the cache write and the reply; out of time means `warn`.
CHECKOUT_READ_TIMEOUT_SECONDS = 3.0
CHECKOUT_MAX_ATTEMPTS = 2
CHECKOUT_BACKOFF_CAP_SECONDS = 0.5
CHECKOUT_TIME_BUDGET_SECONDS = 10.0  # template.yaml's CheckoutFunction Timeout; used with no context
CHECKOUT_DEADLINE_MARGIN_SECONDS = 1.5
# sync-status asks Roamify's GET /api/health: a short timeout, and the answer is reused for a while so
# a dashboard polling the status page does not poll Roamify too.
ROAMIFY_HEALTH_TIMEOUT_SECONDS = 2.0
ROAMIFY_HEALTH_CACHE_SECONDS = 30.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def roamify_key_source(settings: Settings) -> Callable[[], str] | None:
    """Where a Roamify client reads its key again after a 401: Secrets Manager, bypassing the
    cache, when the key lives there; None for a key given directly (nothing newer to read)."""
    from roamsync.adapters.secrets import resolve_secret

    if settings.roamify_api_key is not None and settings.roamify_api_key.get_secret_value():
        return None
    if not settings.roamify_api_key_secret:
        return None
    name = settings.roamify_api_key_secret
    return lambda: resolve_secret(None, name, what="the Roamify API key", fresh=True)


class Container:
    """One set of wired dependencies. Each is built on first use."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.settings = settings
        self.clock = clock
        # A threaded local gateway serves several first requests at once: one breaker, one client.
        self._order_lock = threading.Lock()

    def bind_tables(self) -> None:
        from roamsync.adapters.dynamo_models import bind_models

        bind_models(self.settings)

    @cached_property
    def packages(self) -> PackageRepository:
        from roamsync.adapters.dynamo import PackageRepository

        self.bind_tables()
        return PackageRepository(
            max_attempts=self.settings.dynamodb_batch_max_attempts,
            base_backoff_ms=self.settings.dynamodb_batch_base_backoff_ms,
        )

    @cached_property
    def my_packages(self) -> MyPackageRepository:
        from roamsync.adapters.dynamo import MyPackageRepository

        self.bind_tables()
        return MyPackageRepository()

    def _now(self) -> datetime:
        """`clock()`, looked up on each call (tests move the clock of a container already built)."""
        return self.clock()

    @cached_property
    def runs(self) -> RunRepository:
        from roamsync.adapters.dynamo import RunRepository

        self.bind_tables()
        return RunRepository(clock=self._now)

    def _roamify_client(
        self,
        read_timeout: float,
        max_attempts: int,
        backoff_cap: float,
        page_concurrency: int = 1,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RoamifyClient:
        from roamsync.adapters.roamify import RetryPolicy, RoamifyClient
        from roamsync.adapters.secrets import resolve_secret

        s = self.settings
        key = resolve_secret(s.roamify_api_key, s.roamify_api_key_secret, what="the Roamify API key")
        return RoamifyClient(
            s.roamify_base_url,
            key,
            api_key_source=roamify_key_source(s),
            connect_timeout=s.roamify_connect_timeout_seconds,
            read_timeout=read_timeout,
            retry=RetryPolicy(max_attempts, s.roamify_backoff_base_seconds, backoff_cap),
            page_concurrency=page_concurrency,
            sleep=sleep,
        )

    @cached_property
    def sync_lock(self) -> SyncLock:
        """One sync at a time: the lock item in the Runs table."""
        from roamsync.adapters.dynamo import SyncLock
        from roamsync.services.sync import SYNC_LOCK_LEASE

        self.bind_tables()
        return SyncLock(SYNC_LOCK_LEASE, clock=self._now)

    @cached_property
    def roamify(self) -> RoamifyClient:
        s = self.settings
        return self._roamify_client(
            s.roamify_read_timeout_seconds,
            s.roamify_max_attempts,
            s.roamify_backoff_cap_seconds,
            s.roamify_page_concurrency,
        )

    @cached_property
    def checkout_roamify(self) -> RoamifyClient:
        """The Roamify client of checkout validation: the settings, capped to the checkout budget."""
        s = self.settings
        return self._roamify_client(
            min(s.roamify_read_timeout_seconds, CHECKOUT_READ_TIMEOUT_SECONDS),
            min(s.roamify_max_attempts, CHECKOUT_MAX_ATTEMPTS),
            min(s.roamify_backoff_cap_seconds, CHECKOUT_BACKOFF_CAP_SECONDS),
        )

    @cached_property
    def order_roamify(self) -> RoamifyClient:
        """The Roamify client of order placement: lookups bounded by the order settings, and no
        backoff sleep longer than the order path allows (a 429's Retry-After included)."""
        from roamsync.services.orders import RETRY_SLEEP_CAP_SECONDS

        s = self.settings

        def capped_sleep(seconds: float) -> None:
            time.sleep(min(seconds, RETRY_SLEEP_CAP_SECONDS))

        return self._roamify_client(
            s.order_lookup_timeout_seconds,
            s.order_lookup_max_attempts,
            min(s.roamify_backoff_cap_seconds, RETRY_SLEEP_CAP_SECONDS),
            sleep=capped_sleep,
        )

    @cached_property
    def orders(self) -> OrderRepository:
        from roamsync.adapters.orders import OrderRepository

        self.bind_tables()
        return OrderRepository()

    @cached_property
    def order_breaker(self) -> CircuitBreaker:
        """The breaker in front of Roamify's order calls, shared by this container's requests."""
        from roamsync.services.orders import CircuitBreaker

        s = self.settings
        return CircuitBreaker(
            failure_threshold=s.order_breaker_failure_threshold,
            cooldown_seconds=s.order_breaker_cooldown_seconds,
        )

    @cached_property
    def order_policy(self) -> OrderPolicy:
        from roamsync.services.orders import OrderPolicy

        return OrderPolicy.from_settings(self.settings)

    def order_ports(self, remaining: Callable[[], float]) -> OrderPorts:
        """What order placement needs for one request with `remaining` seconds left. The first call
        may fetch the Roamify key from Secrets Manager: callers make it inside their time budget."""
        from roamsync.services.orders import OrderPorts

        with self._order_lock:
            roamify, orders, breaker = self.order_roamify, self.orders, self.order_breaker
        return OrderPorts(
            orders=orders,
            packages=self.packages,
            my_packages=self.my_packages,
            roamify=roamify,
            breaker=breaker,
            clock=self.clock,
            remaining=remaining,
        )

    def checkout(
        self, *, my_package_id: str | None, package_id: str | None, remaining: Callable[[], float]
    ) -> CheckoutAnswer:
        """One checkout validation (see `validate_checkout`, whose errors it raises), Roamify asked
        within `remaining`. The checkout client is built only when Roamify is asked: a cache hit
        never resolves the Roamify key."""
        from roamsync.services.checkout import validate_checkout

        s = self.settings

        def confirm_upstream(
            reseller_id: str, /, *, remaining: Callable[[], float] | None = None
        ) -> list[Any]:
            return self.checkout_roamify.package_nodes(reseller_id, remaining=remaining)

        return validate_checkout(
            my_package_id=my_package_id,
            package_id=package_id,
            packages=self.packages,
            my_packages=self.my_packages,
            confirm_upstream=confirm_upstream,
            cache=self.validation_cache,
            clock=self.clock,
            cache_ttl_seconds=s.validation_cache_ttl_seconds,
            max_price_increase=s.fallback_max_price_increase,
            remaining=remaining,
        )

    def start_sync_in_background(self, trigger: Trigger, *, force: bool) -> SyncStart:
        """Record a pending sync run and hand it to the sync worker (an asynchronous invoke of the
        sync function); see `start_sync` for the outcomes and what it raises."""
        from roamsync.services.sync import WORKER_TASK, start_sync

        def hand_off(run: Run) -> None:
            self.sync_invoker.invoke_async({"task": WORKER_TASK, "runId": run.run_id, "force": force})

        return start_sync(
            runs=self.runs,
            lock=self.sync_lock,
            hand_off=hand_off,
            clock=self.clock,
            trigger=trigger,
            force=force,
        )

    @cached_property
    def roamify_reachable(self) -> CachedCheck:
        """Whether Roamify's GET /api/health answers 2xx within 2 s; cached for 30 s in this process."""
        from roamsync.services.status import CachedCheck

        return CachedCheck(self._probe_roamify, ttl_seconds=ROAMIFY_HEALTH_CACHE_SECONDS)

    def _probe_roamify(self) -> bool:
        try:
            client = self.roamify
        except Exception:  # no API key configured or readable: not reachable, as far as we can tell
            from roamsync.observability import get_logger

            get_logger().warning("no Roamify client for the health probe", exc_info=True)
            return False
        return client.healthy(timeout=ROAMIFY_HEALTH_TIMEOUT_SECONDS)

    @cached_property
    def validation_cache(self) -> ValidationCache:
        from roamsync.adapters.validation_cache import ValidationCache

        self.bind_tables()
        return ValidationCache(clock=self.clock)

    @cached_property
    def sync_invoker(self) -> LambdaAsyncInvoker:
        from roamsync.adapters.invoker import LambdaAsyncInvoker

        s = self.settings
        if not s.sync_function_name:
            from roamsync.domain.errors import RoamsyncError

            raise RoamsyncError("SYNC_FUNCTION_NAME is not configured")
        return LambdaAsyncInvoker(s.sync_function_name, region=s.region, endpoint_url=s.lambda_endpoint)

    @cached_property
    def schedule(self) -> ScheduleRule:
        """The nightly EventBridge rule (SCHEDULE_RULE_NAME)."""
        from roamsync.adapters.schedule import ScheduleRule

        s = self.settings
        if not s.schedule_rule_name:
            from roamsync.domain.errors import RoamsyncError

            raise RoamsyncError("SCHEDULE_RULE_NAME is not configured")
        return ScheduleRule(s.schedule_rule_name, region=s.region, endpoint_url=s.events_endpoint)


def sync_catalog(
    container: Container,
    trigger: Trigger,
    *,
    dry_run: bool = False,
    force: bool = False,
    run: Run | None = None,
    progress: Progress | None = None,
    lock_wait_seconds: float = 0.0,
    record_skip: bool = False,
    remaining: Callable[[], float] | None = None,
) -> SyncOutcome:
    """One catalog sync with the container's adapters and settings, under the sync lock: what the
    handler, the nightly run, the CLI and the local stack all call. `remaining`: the seconds the
    invocation has left (a Lambda's), None when there is no limit (the CLI)."""
    from roamsync.services.sync import run_sync

    settings = container.settings
    return run_sync(
        source=container.roamify,
        packages=container.packages,
        runs=container.runs,
        clock=container.clock,
        max_deactivation_ratio=settings.sync_max_deactivation_ratio,
        page_size=settings.roamify_page_size,
        trigger=trigger,
        dry_run=dry_run,
        force=force,
        run=run,
        progress=progress,
        lock=container.sync_lock,
        lock_wait_seconds=lock_wait_seconds,
        record_skip=record_skip,
        max_confirmations=settings.sync_max_confirmations,
        remaining=remaining,
    )


_container: Container | None = None
_container_lock = threading.Lock()


def get_container() -> Container:
    """The process-wide container, built from the environment's settings on first use."""
    global _container  # noqa: PLW0603 - one per Lambda container, by design
    container = _container
    if container is None:
        with _container_lock:  # threads asking first at once (the local stack) still share one
            container = _container
            if container is None:
                container = _container = Container(get_settings())
    return container


def set_container(container: Container | None) -> None:
    """Replace (or drop, with None) the process-wide container: tests, the CLI and the local stack."""
    global _container  # noqa: PLW0603
    _container = container
