"""DynamoDB repositories (pynamodb). No pynamodb or botocore object leaves this module."""

from __future__ import annotations

import base64
import binascii
import json
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import islice
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import DeleteError, PutError, PynamoDBException, UpdateError

from roamsync.adapters.dynamo_models import MyPackageItem, PackageItem, RunItem
from roamsync.domain.errors import BadRequest, Conflict, StorageError
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.packages import Package
from roamsync.domain.runs import Run, RunKind, RunStatus
from roamsync.domain.sync_plan import Stored
from roamsync.observability import get_logger

BATCH_SIZE = 25  # BatchWriteItem's limit
NO_COVERAGE: frozenset[str] = frozenset()

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
        spanning_region=package.region if package.spans_beyond_its_country else None,
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
    package = _package_of(item)
    if package.spans_beyond_its_country and item.spanning_region is None:
        # Written before the spanning-region index existed: read back with no hash, the next sync
        # sees it as changed and rewrites it once, with the index attribute.
        return package.model_copy(update={"content_hash": ""})
    return package


def _package_of(item: PackageItem) -> Package:
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
    """Items still unprocessed after the bounded retries. `written` items went through before the
    failure; the batch that failed and everything after it did not (`unwritten`: that batch's keys
    left unprocessed)."""

    def __init__(self, message: str, *, written: int, unwritten: list[str]) -> None:
        super().__init__(message)
        self.written = written
        self.unwritten = unwritten


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def write_in_batches(
    requests: Iterable[Any],
    table_name: str,
    send: BatchSend,
    *,
    max_attempts: int,
    base_backoff_ms: int,
    cap_backoff_ms: int = 2_000,
    sleep: Callable[[float], None] = time.sleep,
    to_request: Callable[[Any], dict[str, Any]] | None = None,
    key_of: Callable[[dict[str, Any]], str] | None = None,
    on_written: Callable[[list[str]], None] | None = None,
) -> int:
    """Write put requests 25 per BatchWriteItem, resending UnprocessedItems with capped, full-jitter
    exponential backoff. Returns the number of BatchWriteItem calls; raises BatchWriteFailed when
    a batch still has unprocessed items after `max_attempts` sends.

    `requests` is consumed lazily; with `to_request`, its items are the things to write, each batch
    turned into put requests only when it is sent (a 50,000-package first sync never holds 50,000
    serialised items). `on_written` is told the keys (`key_of` each put request) that went through
    after every send; an exception it raises stops the writing there.
    """
    # Hand-written rather than pynamodb's BatchWrite: that one resends unprocessed items with no
    # backoff at all, and the retry must resume with only what is left, which a plain retry
    # decorator cannot express.
    calls = written = 0
    for batch in _batches(requests, BATCH_SIZE):
        pending = [to_request(r) for r in batch] if to_request else list(batch)
        for attempt in range(1, max_attempts + 1):
            calls += 1
            response = send(pending)
            unprocessed = list(response.get("UnprocessedItems", {}).get(table_name, []))
            written += len(pending) - len(unprocessed)
            if on_written is not None and key_of is not None:
                left = {key_of(r) for r in unprocessed}
                on_written([key for key in map(key_of, pending) if key not in left])
            pending = unprocessed
            if not pending:
                break
            if attempt == max_attempts:
                raise BatchWriteFailed(
                    f"BatchWriteItem on {table_name}: {len(pending)} items still unprocessed "
                    f"after {max_attempts} attempts",
                    written=written,
                    unwritten=sorted(map(key_of, pending)) if key_of else [],
                )
            ceiling = min(cap_backoff_ms, base_backoff_ms * 2 ** (attempt - 1))
            get_logger().info(
                "retrying unprocessed items", extra={"table": table_name, "unprocessed": len(pending)}
            )
            sleep(random.uniform(0, ceiling) / 1000)  # noqa: S311 - jitter  # nosec B311
    return calls


def _put_request(package: Package) -> dict[str, Any]:
    return {"PutRequest": {"Item": package_to_item(package).serialize()}}


def _put_key(request: dict[str, Any]) -> str:
    return str(request["PutRequest"]["Item"]["reseller_id"]["S"])


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

    def load_stored(self, progress: Callable[[int], None] | None = None) -> dict[str, Stored]:
        """What the sync's diff compares of every stored package, by reseller_id: one paginated Scan
        that reads only those attributes, never whole items. `progress` is told the count every
        thousand items. Items from before the spanning-region index read back with an empty hash,
        so the next sync rewrites them (see `item_to_package`)."""
        attributes = [
            "reseller_id",
            "content_hash",
            "status",
            "first_seen_at",
            "coverage",
            "country_code",
            "spanning_region",
        ]
        stored: dict[str, Stored] = {}
        try:
            for item in PackageItem.scan(attributes_to_get=attributes):
                coverage = frozenset(str(code) for code in item.coverage or ())
                spans = coverage != {(item.country_code or "").strip().upper()}
                legacy = spans and item.spanning_region is None
                stored[item.reseller_id] = Stored(
                    "" if legacy else item.content_hash,
                    sys.intern(item.status),
                    _aware(item.first_seen_at),
                    # Only a multi-country coverage can shrink; one-country ones share one empty set.
                    coverage if len(coverage) > 1 else NO_COVERAGE,
                )
                if progress is not None and len(stored) % 1000 == 0:
                    progress(len(stored))
        except PynamoDBException as exc:
            raise StorageError(f"Scan of {self.table_name} failed: {exc.msg}") from None
        return stored

    def write(
        self, packages: Iterable[Package], *, on_written: Callable[[list[str]], None] | None = None
    ) -> int:
        """Put every package (consumed lazily), 25 a call; returns the number of BatchWriteItem calls.

        `on_written` is told the reseller_ids each call stored. Raises BatchWriteFailed (which says
        how many were written) when DynamoDB keeps items unprocessed past the retries.
        """
        return write_in_batches(
            packages,
            self.table_name,
            self._send or self.default_send,
            to_request=_put_request,
            key_of=_put_key,
            on_written=on_written,
            max_attempts=self._max_attempts,
            base_backoff_ms=self._base_backoff_ms,
            sleep=self._sleep,
        )

    def count_by_status(self) -> tuple[int, int]:
        """(active, inactive) packages, from one paginated Scan with Select=COUNT.

        DynamoDB counts server-side and sends back two numbers a page, never an item: `Count` is
        what matched the filter (active) and `ScannedCount` what was read, so inactive is the
        difference (a package is either active or inactive). The read capacity is still that of
        the whole table, about 1 RCU per 8 KB; a 10,000-package catalog is a few 1 MB pages.
        """
        connection = PackageItem._get_connection().connection
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Select": "COUNT",
            "FilterExpression": "#status = :active",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":active": {"S": "active"}},
        }
        active = scanned = 0
        try:
            while True:
                page = connection.dispatch("Scan", request)
                active += int(page.get("Count", 0))
                scanned += int(page.get("ScannedCount", 0))
                if not page.get("LastEvaluatedKey"):
                    return active, scanned - active
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (PynamoDBException, BotoCoreError, ClientError) as exc:
            # dispatch() passes botocore's errors through where pynamodb's own calls wrap them.
            raise StorageError(f"Scan (count) of {self.table_name} failed: {exc}") from None

    def get(self, reseller_id: str) -> Package | None:
        try:
            return item_to_package(PackageItem.get(reseller_id))
        except PackageItem.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"GetItem on {self.table_name} failed: {exc.msg}") from None

    def get_many(self, reseller_ids: Iterable[str]) -> dict[str, Package]:
        """The catalog packages of these reseller_ids, by reseller_id (BatchGetItem, 100 keys a call;
        unknown ids are simply absent)."""
        keys = {rid for rid in reseller_ids if rid}
        if not keys:
            return {}
        try:
            return {item.reseller_id: item_to_package(item) for item in PackageItem.batch_get(keys)}
        except PynamoDBException as exc:
            raise StorageError(f"BatchGetItem on {self.table_name} failed: {exc.msg}") from None

    def by_country(self, country_code: str) -> Iterator[Package]:
        """Packages listed under a country code: a Query on the country index."""
        for item in PackageItem.country_index.query(country_code.upper()):
            yield item_to_package(item)

    def spanning(self, region: str) -> Iterator[Package]:
        """Packages of `region` that cover more than their own country: a Query on the sparse
        spanning-region index, which leaves out the region's single-country packages."""
        for item in PackageItem.spanning_region_index.query(region):
            yield item_to_package(item)


def my_package_to_item(row: MyPackage) -> MyPackageItem:
    return MyPackageItem(**row.model_dump())


def item_to_my_package(item: MyPackageItem) -> MyPackage:
    values = item.attribute_values
    for name in ("created_at", "updated_at", "validated_at"):
        values[name] = _aware(values.get(name))
    values.setdefault("reseller_id", None)  # a draft's, never written
    return MyPackage.model_validate(values)


def _condition_failed(exc: PynamoDBException) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def encode_cursor(last_evaluated_key: dict[str, Any] | None) -> str | None:
    """An opaque page cursor: URL-safe base64 of the LastEvaluatedKey's JSON."""
    if not last_evaluated_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_evaluated_key, sort_keys=True).encode()).decode()


def decode_cursor(cursor: str | None, key_names: Sequence[str]) -> dict[str, Any] | None:
    """The LastEvaluatedKey a cursor of ours holds. Raises BadRequest for anything else."""
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeError):
        raise BadRequest("cursor is not one this API gave out") from None
    if not (
        isinstance(key, dict)
        and set(key) == set(key_names)
        and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values())
    ):
        raise BadRequest("cursor is not one this API gave out")
    return {name: {"S": value["S"]} for name, value in key.items()}


class MyPackageRepository:
    """The MyPackages table. Conditional writes that lose raise Conflict; other failures StorageError."""

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

    def all(self) -> Iterator[MyPackage]:
        """Every row (a paginated Scan: validation and dedupe look at the whole table by definition)."""
        try:
            for item in MyPackageItem.scan():
                yield item_to_my_package(item)
        except PynamoDBException as exc:
            raise StorageError(f"Scan of MyPackages failed: {exc.msg}") from None

    def page(
        self,
        *,
        limit: int,
        cursor: str | None = None,
        country_code: str | None = None,
        validation_status: str | None = None,
    ) -> tuple[list[MyPackage], str | None]:
        """Up to `limit` rows matching the filters, and the cursor of the next page (None at the end).

        `validation_status` is "valid", "invalid" or "unvalidated" (never validated). A filtered
        Scan: DynamoDB may read past non-matching rows to fill a page. Raises BadRequest for a
        cursor this API did not give out.
        """
        condition: Any = None
        if country_code:
            condition = MyPackageItem.country_code == country_code.upper()
        status_condition: Any
        if validation_status == "unvalidated":
            status_condition = MyPackageItem.validation_status.does_not_exist()
        elif validation_status:
            status_condition = MyPackageItem.validation_status == validation_status
        else:
            status_condition = None
        if status_condition is not None:
            condition = status_condition if condition is None else condition & status_condition
        start = decode_cursor(cursor, ["id"])
        try:
            results = MyPackageItem.scan(filter_condition=condition, limit=limit, last_evaluated_key=start)
            rows = [item_to_my_package(item) for item in results]
            return rows, encode_cursor(results.last_evaluated_key)
        except PynamoDBException as exc:
            raise StorageError(f"Scan of MyPackages failed: {exc.msg}") from None

    @staticmethod
    def _unchanged_since(expected_updated_at: datetime | None) -> Any:
        exists = MyPackageItem.id.exists()
        if expected_updated_at is None:
            return exists & MyPackageItem.updated_at.does_not_exist()
        return exists & (MyPackageItem.updated_at == expected_updated_at)

    def create(self, row: MyPackage) -> None:
        """Put a row whose id is not taken. Raises Conflict when it is."""
        try:
            my_package_to_item(row).save(condition=MyPackageItem.id.does_not_exist())
        except PutError as exc:
            if _condition_failed(exc):
                raise Conflict(f"my-package {row.id!r} already exists") from None
            raise StorageError(f"PutItem on MyPackages failed: {exc.msg}") from None

    def replace(self, row: MyPackage, *, expected_updated_at: datetime | None) -> None:
        """Overwrite a row that still exists with `expected_updated_at`. Raises Conflict otherwise."""
        try:
            my_package_to_item(row).save(condition=self._unchanged_since(expected_updated_at))
        except PutError as exc:
            if _condition_failed(exc):
                raise Conflict(f"my-package {row.id!r} was changed or removed meanwhile") from None
            raise StorageError(f"PutItem on MyPackages failed: {exc.msg}") from None

    def delete(self, my_package_id: str, *, expected_updated_at: datetime | None) -> None:
        """Delete a row that still exists with `expected_updated_at`. Raises Conflict otherwise."""
        try:
            MyPackageItem(id=my_package_id).delete(condition=self._unchanged_since(expected_updated_at))
        except DeleteError as exc:
            if _condition_failed(exc):
                raise Conflict(f"my-package {my_package_id!r} was changed or removed meanwhile") from None
            raise StorageError(f"DeleteItem on MyPackages failed: {exc.msg}") from None

    def set_validation(self, row: MyPackage, *, expected_updated_at: datetime | None) -> None:
        """Write only the row's validation state (status, reason, validated_at), and only onto a row
        that still exists with `expected_updated_at` (the value the verdict was judged on; None: a
        row never stamped), so a verdict never lands on content it was not judged on and no edit
        is overwritten. Raises Conflict when the row was changed or removed meanwhile."""
        item = MyPackageItem(id=row.id)
        actions: list[Any] = [
            MyPackageItem.validation_status.set(row.validation_status)
            if row.validation_status
            else MyPackageItem.validation_status.remove(),
            MyPackageItem.validation_reason.set(row.validation_reason)
            if row.validation_reason
            else MyPackageItem.validation_reason.remove(),
            MyPackageItem.validated_at.set(row.validated_at)
            if row.validated_at
            else MyPackageItem.validated_at.remove(),
        ]
        try:
            item.update(actions=actions, condition=self._unchanged_since(expected_updated_at))
        except UpdateError as exc:
            if _condition_failed(exc):
                raise Conflict(f"my-package {row.id!r} was changed or removed meanwhile") from None
            raise StorageError(f"UpdateItem on MyPackages failed: {exc.msg}") from None


# A DynamoDB item holds at most 400 KB. An auto-fix or dedupe run keeps its before-images in
# `details["changes"]` inline while its record stays under this size; beyond it they move to items of
# their own, keyed "<run_id>#changes#<n>" (kind "run_changes", each under this size too), and the
# record keeps `details["changesChunks"]`, their number. `get` puts them back together.
INLINE_RECORD_LIMIT = 300_000
CHANGES_KIND = "run_changes"


def changes_chunk_id(run_id: str, n: int) -> str:
    return f"{run_id}#changes#{n}"


def split_changes(changes: Sequence[Any], limit: int = INLINE_RECORD_LIMIT) -> list[list[Any]]:
    """Consecutive chunks of `changes`, each under `limit` bytes of JSON (a lone larger change
    gets a chunk of its own)."""
    chunks: list[list[Any]] = []
    current: list[Any] = []
    size = 0
    for change in changes:
        length = len(json.dumps(change)) + 2
        if current and size + length > limit:
            chunks.append(current)
            current, size = [], 0
        current.append(change)
        size += length
    if current:
        chunks.append(current)
    return chunks


class RunRepository:
    """The Runs table: one JSON record per run, plus kind and start time for the kind index.

    Before-images too large for the run's own item are stored beside it (see INLINE_RECORD_LIMIT).
    A run's changes only ever grow between saves (services mark a change not applied rather than
    drop it), so a re-saved run never leaves chunk items of an earlier save behind.

    Every save of a pending or running run renews its lease (domain.runs.RUN_LEASE); every read
    settles a run whose lease ran out as failed / `abandoned`, and writes that back unless the run
    moved on meanwhile. So no reader ever sees a run "running" that nothing will finish.
    """

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or utcnow

    @staticmethod
    def _item(run: Run, record: dict[str, Any] | None = None) -> RunItem:
        return RunItem(
            run_id=run.run_id,
            kind=run.kind.value,
            started_at=run.started_at.isoformat(),
            status=run.status.value,
            record=record if record is not None else run.model_dump(mode="json"),
        )

    def _record_with_chunks(self, run: Run) -> dict[str, Any]:
        """The record to store, with its changes moved to chunk items first when it is too large."""
        record = run.model_dump(mode="json")
        changes = record["details"].get("changes")
        if not changes or len(json.dumps(record)) <= INLINE_RECORD_LIMIT:
            return record
        chunks = split_changes(changes)
        for n, chunk in enumerate(chunks):
            RunItem(
                run_id=changes_chunk_id(run.run_id, n),
                kind=CHANGES_KIND,
                started_at=run.started_at.isoformat(),
                record={"runId": run.run_id, "chunk": n, "changes": chunk},
            ).save()
        details = {k: v for k, v in record["details"].items() if k != "changes"}
        record["details"] = {**details, "changesChunks": len(chunks)}
        return record

    def save(self, run: Run, *, expected_status: RunStatus | None = None) -> None:
        """Write the run (renewing its lease while it is unfinished). With `expected_status`, only
        over a stored record still in that status: Conflict when it was moved on meanwhile (a run
        settled as abandoned by a reader is not flipped back by a late writer)."""
        run.renew_lease(self._clock())
        condition = RunItem.status == expected_status.value if expected_status is not None else None
        try:
            self._item(run, self._record_with_chunks(run)).save(condition=condition)
        except PutError as exc:
            if _condition_failed(exc):
                raise Conflict(f"run {run.run_id} is no longer {expected_status}") from None
            raise StorageError(f"PutItem on Runs failed: {exc.msg}") from None
        except PynamoDBException as exc:
            raise StorageError(f"PutItem on Runs failed: {exc.msg}") from None

    def claim(self, run: Run) -> bool:
        """Move a pending run to running, unless someone else already did (False then).

        Lambda may deliver an asynchronous event more than once; the conditional write makes sure
        only one delivery works the run.
        """
        run.status = RunStatus.RUNNING
        run.renew_lease(self._clock())
        try:
            self._item(run).save(condition=RunItem.status == RunStatus.PENDING.value)
        except PutError as exc:
            if _condition_failed(exc):
                return False
            raise StorageError(f"PutItem on Runs failed: {exc.msg}") from None
        return True

    def get(self, run_id: str) -> Run | None:
        """The run with all its changes (chunks put back in order); None for an unknown id."""
        try:
            item = RunItem.get(run_id)
            if item.kind == CHANGES_KIND:
                return None
            record = item.record
            count = record.get("details", {}).pop("changesChunks", None)
            if count:
                keys = [changes_chunk_id(run_id, n) for n in range(int(count))]
                chunks = {c.run_id: c.record["changes"] for c in RunItem.batch_get(keys)}
                if len(chunks) != len(keys):
                    raise StorageError(f"run {run_id}: {len(keys) - len(chunks)} change chunks are missing")
                record["details"]["changes"] = [change for key in keys for change in chunks[key]]
            return self._settled(Run.model_validate(record))
        except RunItem.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"GetItem on Runs failed: {exc.msg}") from None

    def latest(self, kind: RunKind, limit: int = 10) -> list[Run]:
        """The newest runs of one kind, newest first (a Query on the kind index)."""
        items = RunItem.kind_index.query(kind.value, scan_index_forward=False, limit=limit)
        return [self._settled(Run.model_validate(item.record)) for item in items]

    def _settled(self, run: Run) -> Run:
        """`run`, or — when its lease ran out — the run settled as abandoned (and written back,
        conditionally: a run whose status changed since it was read is read again instead)."""
        if not run.is_abandoned(self._clock()):
            return run
        seen = run.status.value
        run.settle_abandoned()
        try:
            self._item(run, self._record_with_chunks(run)).save(condition=RunItem.status == seen)
        except PutError as exc:
            if _condition_failed(exc):
                return self.get(run.run_id) or run
            # The reader still gets the settled view; the next read tries the write again.
            get_logger().warning(
                "could not record an abandoned run", extra={"run_id": run.run_id, "error": exc.msg}
            )
        else:
            get_logger().warning(
                "run abandoned", extra={"run_id": run.run_id, "kind": run.kind.value, "was": seen}
            )
        return run


LOCK_KIND = "lock"


class SyncLock:
    """One sync at a time, across every function and the CLI: an item in the Runs table
    (`lock#sync`) naming the run that holds it until its lease expires.

    Taken with a conditional write (free, expired, or already ours), renewed by its holder as the
    sync progresses, released at the end. A holder that crashed stops renewing, so its lease runs
    out and the next sync takes over. Not Lambda's reserved concurrency: the sync function also
    answers the API, and the CLI runs outside Lambda.
    """

    LOCK_ID = "lock#sync"

    def __init__(self, lease: timedelta, clock: Callable[[], datetime] | None = None) -> None:
        self.lease = lease
        self._clock = clock or utcnow

    def _item(self, holder: str, now: datetime) -> RunItem:
        until = now + self.lease
        return RunItem(
            run_id=self.LOCK_ID,
            kind=LOCK_KIND,
            started_at=now.isoformat(),
            status="held",
            holder=holder,
            lease_expires=until.timestamp(),
            record={"holder": holder, "takenAt": now.isoformat(), "leaseUntil": until.isoformat()},
        )

    def acquire(self, holder: str) -> str | None:
        """Take (or keep) the lock for run `holder`. None when taken; else the run holding it."""
        for _ in range(2):  # a second try when the holder's lease ran out between write and read
            now = self._clock()
            free = (
                RunItem.run_id.does_not_exist()
                | (RunItem.lease_expires < now.timestamp())
                | (RunItem.holder == holder)
            )
            try:
                self._item(holder, now).save(condition=free)
            except PutError as exc:
                if not _condition_failed(exc):
                    raise StorageError(f"PutItem on Runs (sync lock) failed: {exc.msg}") from None
                current = self.holder()
                if current is not None:
                    return current
                continue
            return None
        return "unknown"

    def renew(self, holder: str) -> bool:
        """Extend the lease of a lock `holder` still holds. False when it lost it."""
        try:
            self._item(holder, self._clock()).save(condition=RunItem.holder == holder)
        except PutError as exc:
            if _condition_failed(exc):
                return False
            raise StorageError(f"PutItem on Runs (sync lock) failed: {exc.msg}") from None
        return True

    def release(self, holder: str) -> None:
        """Give the lock up if `holder` still holds it (never someone else's)."""
        try:
            RunItem(run_id=self.LOCK_ID).delete(condition=RunItem.holder == holder)
        except DeleteError as exc:
            if not _condition_failed(exc):
                raise StorageError(f"DeleteItem on Runs (sync lock) failed: {exc.msg}") from None

    def holder(self) -> str | None:
        """The run holding an unexpired lock, if any."""
        try:
            item = RunItem.get(self.LOCK_ID, consistent_read=True)
        except RunItem.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"GetItem on Runs (sync lock) failed: {exc.msg}") from None
        if item.lease_expires is None or item.lease_expires < self._clock().timestamp():
            return None
        return item.holder


def utcnow() -> datetime:
    return datetime.now(UTC)
