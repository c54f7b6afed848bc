"""The composition root: builds the adapters the handlers hand to services, lazily, once per container.

Tests and the CLI build their own `Container` (or replace parts of one); nothing here runs at import.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from roamsync.settings import Settings, get_settings

if TYPE_CHECKING:
    from roamsync.adapters.dynamo import MyPackageRepository, PackageRepository, RunRepository
    from roamsync.adapters.invoker import LambdaAsyncInvoker
    from roamsync.adapters.roamify import RoamifyClient


def utc_now() -> datetime:
    return datetime.now(UTC)


class Container:
    """One set of wired dependencies. Each is built on first use."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.settings = settings
        self.clock = clock

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

    @cached_property
    def runs(self) -> RunRepository:
        from roamsync.adapters.dynamo import RunRepository

        self.bind_tables()
        return RunRepository()

    @cached_property
    def roamify(self) -> RoamifyClient:
        from roamsync.adapters.roamify import RetryPolicy, RoamifyClient
        from roamsync.adapters.secrets import resolve_secret

        s = self.settings
        key = resolve_secret(s.roamify_api_key, s.roamify_api_key_secret, what="the Roamify API key")
        return RoamifyClient(
            s.roamify_base_url,
            key,
            connect_timeout=s.roamify_connect_timeout_seconds,
            read_timeout=s.roamify_read_timeout_seconds,
            retry=RetryPolicy(
                s.roamify_max_attempts, s.roamify_backoff_base_seconds, s.roamify_backoff_cap_seconds
            ),
        )

    @cached_property
    def sync_invoker(self) -> LambdaAsyncInvoker:
        from roamsync.adapters.invoker import LambdaAsyncInvoker

        s = self.settings
        if not s.sync_function_name:
            from roamsync.domain.errors import RoamsyncError

            raise RoamsyncError("SYNC_FUNCTION_NAME is not configured")
        return LambdaAsyncInvoker(s.sync_function_name, region=s.region, endpoint_url=s.lambda_endpoint)


_container: Container | None = None


def get_container() -> Container:
    """The process-wide container, built from the environment's settings on first use."""
    global _container  # noqa: PLW0603 - one per Lambda container, by design
    if _container is None:
        _container = Container(get_settings())
    return _container


def set_container(container: Container | None) -> None:
    """Replace (or drop, with None) the process-wide container: tests, the CLI and the local stack."""
    global _container  # noqa: PLW0603
    _container = container
