"""DynamoDB repositories (pynamodb). No pynamodb or botocore object leaves this module."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from pynamodb.exceptions import PutError, PynamoDBException

from roamsync.adapters.dynamo_models import MyPackageItem, PackageItem, RunItem
from roamsync.domain.errors import StorageError
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.packages import Package
from roamsync.domain.runs import Run, RunKind, RunStatus
from roamsync.observability import get_logger

BATCH_SIZE = 25  # BatchWriteItem's limit

# Sends one BatchWriteItem of serialized put requests; returns the response (UnprocessedItems…).
BatchSend = Callable[[list[dict[str, Any]]], dict[str, Any]]


def _aware(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def package_to_item(package: Package) -> PackageItem:
    return PackageItem(
        reseller_id=package.reseller_id,
        id=package.id,
        name=package.name,
        country_code=package.country_code,
        country_name=package.country_name,
        region=package.region,
        geography=package.geography,
        coverage=list(package.coverage),
        data_mb=package.data_mb,
        unlimited=package.unlimited,
        validity_days=package.validity_days,
        price=package.price,
        currency=package.currency,
        with_sms=package.with_sms,
        with_call=package.with_call,
        with_hotspot=package.with_hotspot,
        throttled=package.throttled,
        throttle_speed_kbps=package.throttle_speed_kbps,
        throttle_threshold_mb=package.throttle_threshold_mb,
        content_hash=package.content_hash,
        status=package.status,
        first_seen_at=package.first_seen_at,
        last_seen_at=package.last_seen_at,
        deactivated_at=package.deactivated_at,
        updated_at=package.updated_at,
    )


def item_to_package(item: PackageItem) -> Package:
    return Package(
        reseller_id=item.reseller_id,
        id=item.id,
        name=item.name,
        country_code=item.country_code,
        country_name=item.country_name,
        region=item.region,
        geography=cast(Any, item.geography),
        coverage=tuple(item.coverage or ()),
        data_mb=int(item.data_mb) if item.data_mb is not None else None,
        unlimited=bool(item.unlimited),
        validity_days=int(item.validity_days),
        price=Decimal(item.price),
        currency=item.currency,
        with_sms=bool(item.with_sms),
        with_call=bool(item.with_call),
        with_hotspot=bool(item.with_hotspot),
        throttled=bool(item.throttled),
        throttle_speed_kbps=int(item.throttle_speed_kbps) if item.throttle_speed_kbps is not None else None,
        throttle_threshold_mb=int(item.throttle_threshold_mb)
        if item.throttle_threshold_mb is not None
        else None,
        content_hash=item.content_hash,
        status=cast(Any, item.status),
        first_seen_at=_aware(item.first_seen_at),
        last_seen_at=_aware(item.last_seen_at),
        deactivated_at=_aware(item.deactivated_at),
        updated_at=_aware(item.updated_at),
    )


class BatchWriteFailed(StorageError):
    """Items still unprocessed after the bounded retries; `pending` says how many were not written."""

    def __init__(self, message: str, *, pending: int) -> None:
        super().__init__(message)
        self.pending = pending


def write_in_batches(
    requests: Sequence[dict[str, Any]],
    table_name: str,
    send: BatchSend,
    *,
    max_attempts: int,
    base_backoff_ms: int,
    cap_backoff_ms: int = 2_000,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Write put requests 25 per BatchWriteItem, resending UnprocessedItems with capped, full-jitter
    exponential backoff. Returns the number of BatchWriteItem calls; raises BatchWriteFailed when
    a batch still has unprocessed items after `max_attempts` sends.
    """
    # Hand-written rather than pynamodb's BatchWrite: that one resends unprocessed items with no
    # backoff at all, and the retry must resume with only what is left, which a plain retry
    # decorator cannot express.
    calls = 0
    for start in range(0, len(requests), BATCH_SIZE):
        pending = list(requests[start : start + BATCH_SIZE])
        for attempt in range(1, max_attempts + 1):
            calls += 1
            response = send(pending)
            pending = list(response.get("UnprocessedItems", {}).get(table_name, []))
            if not pending:
                break
            if attempt == max_attempts:
                raise BatchWriteFailed(
                    f"BatchWriteItem on {table_name}: {len(pending)} items still unprocessed "
                    f"after {max_attempts} attempts",
                    pending=len(pending) + max(0, len(requests) - start - BATCH_SIZE),
                )
            ceiling = min(cap_backoff_ms, base_backoff_ms * 2 ** (attempt - 1))
            get_logger().info(
                "retrying unprocessed items", extra={"table": table_name, "unprocessed": len(pending)}
            )
            sleep(random.uniform(0, ceiling) / 1000)  # noqa: S311 - jitter
    return calls


class PackageRepository:
    """The Packages table."""

    def __init__(
        self,
        *,
        max_attempts: int = 8,
        base_backoff_ms: int = 25,
        send: BatchSend | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._max_attempts = max_attempts
        self._base_backoff_ms = base_backoff_ms
        self._send = send
        self._sleep = sleep

    @property
    def table_name(self) -> str:
        return str(PackageItem.Meta.table_name)

    def default_send(self, put_requests: list[dict[str, Any]]) -> dict[str, Any]:
        """The real BatchWriteItem, through pynamodb's connection (its own SDK retries for throttling)."""
        connection = PackageItem._get_connection()
        items = [r["PutRequest"]["Item"] for r in put_requests]
        try:
            return connection.batch_write_item(put_items=items) or {}
        except PynamoDBException as exc:
            raise StorageError(f"BatchWriteItem on {self.table_name} failed: {exc.msg}") from None

    def load_all(self) -> dict[str, Package]:
        """Every stored package by reseller_id (one paginated Scan: the sync needs the whole table)."""
        try:
            return {item.reseller_id: item_to_package(item) for item in PackageItem.scan()}
        except PynamoDBException as exc:
            raise StorageError(f"Scan of {self.table_name} failed: {exc.msg}") from None

    def write(self, packages: Iterable[Package]) -> int:
        """Put every package, 25 a call; returns the number of BatchWriteItem calls made."""
        requests = [{"PutRequest": {"Item": package_to_item(p).serialize()}} for p in packages]
        if not requests:
            return 0
        return write_in_batches(
            requests,
            self.table_name,
            self._send or self.default_send,
            max_attempts=self._max_attempts,
            base_backoff_ms=self._base_backoff_ms,
            sleep=self._sleep,
        )

    def get(self, reseller_id: str) -> Package | None:
        try:
            return item_to_package(PackageItem.get(reseller_id))
        except PackageItem.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"GetItem on {self.table_name} failed: {exc.msg}") from None

    def by_country(self, country_code: str) -> Iterator[Package]:
        """Packages listed under a country code: a Query on the country index."""
        for item in PackageItem.country_index.query(country_code.upper()):
            yield item_to_package(item)

    def by_region(self, region: str) -> Iterator[Package]:
        for item in PackageItem.region_index.query(region):
            yield item_to_package(item)


def my_package_to_item(row: MyPackage) -> MyPackageItem:
    return MyPackageItem(**row.model_dump())


def item_to_my_package(item: MyPackageItem) -> MyPackage:
    values = item.attribute_values
    for name in ("created_at", "updated_at", "validated_at"):
        values[name] = _aware(values.get(name))
    return MyPackage.model_validate(values)


class MyPackageRepository:
    """The MyPackages table."""

    def get(self, my_package_id: str) -> MyPackage | None:
        try:
            return item_to_my_package(MyPackageItem.get(my_package_id))
        except MyPackageItem.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"GetItem on MyPackages failed: {exc.msg}") from None

    def save(self, row: MyPackage) -> None:
        try:
            my_package_to_item(row).save()
        except PynamoDBException as exc:
            raise StorageError(f"PutItem on MyPackages failed: {exc.msg}") from None

    def by_reseller_id(self, reseller_id: str) -> list[MyPackage]:
        """Rows mapped to one Roamify package: a Query on the reseller_id index."""
        return [item_to_my_package(i) for i in MyPackageItem.reseller_id_index.query(reseller_id)]


class RunRepository:
    """The Runs table: one JSON record per run, plus kind and start time for the kind index."""

    @staticmethod
    def _item(run: Run) -> RunItem:
        return RunItem(
            run_id=run.run_id,
            kind=run.kind.value,
            started_at=run.started_at.isoformat(),
            status=run.status.value,
            record=run.model_dump(mode="json"),
        )

    def save(self, run: Run) -> None:
        try:
            self._item(run).save()
        except PynamoDBException as exc:
            raise StorageError(f"PutItem on Runs failed: {exc.msg}") from None

    def claim(self, run: Run) -> bool:
        """Move a pending run to running, unless someone else already did (False then).

        Lambda may deliver an asynchronous event more than once; the conditional write makes sure
        only one delivery works the run.
        """
        run.status = RunStatus.RUNNING
        try:
            self._item(run).save(condition=RunItem.status == RunStatus.PENDING.value)
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise StorageError(f"PutItem on Runs failed: {exc.msg}") from None
        return True

    def get(self, run_id: str) -> Run | None:
        try:
            return Run.model_validate(RunItem.get(run_id).record)
        except RunItem.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"GetItem on Runs failed: {exc.msg}") from None

    def latest(self, kind: RunKind, limit: int = 10) -> list[Run]:
        """The newest runs of one kind, newest first (a Query on the kind index)."""
        items = RunItem.kind_index.query(kind.value, scan_index_forward=False, limit=limit)
        return [Run.model_validate(item.record) for item in items]


def utcnow() -> datetime:
    return datetime.now(UTC)
