"""The ValidationCache table: cached checkout validations behind a small in-process copy.

Keys. The service's logical key (e.g. ``checkout:v1:pkg:<id>:<digest>``) is stored as
``g<generation>#<logical key>``. The generation is a number kept in the same table under the
reserved key ``#generation`` (no ``expires_at``, so TTL never removes it) and bumped with an atomic
ADD. ``clear()`` is that one UpdateItem whatever the table holds: no Scan, no deletes. Entries of an
older generation are never read again; DynamoDB's TTL removes them in its own time.

Expiry. Every read of a table item compares its ``expires_at`` with the injected clock: DynamoDB
deletes expired items up to two days late (moto never does), so an item being there means nothing.

In-process copies (one set per Lambda container): at most `max_entries` results, least recently used
evicted first, each kept for `entry_lifetime_seconds` and never past the item's own ``expires_at``;
and the generation, re-read after `generation_lifetime_seconds`.

Staleness bound. A clear made through this instance is seen by it at once. A clear made anywhere
else (another container, the CLI) is seen here within `generation_lifetime_seconds` (5 s by
default): until then this container may still answer from entries of the old generation, from its
own memory or from the table. No entry is ever served after its ``expires_at``.

No pynamodb or botocore object leaves this module; storage failures become StorageError.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pynamodb.constants import ALL_NEW
from pynamodb.exceptions import DoesNotExist, PynamoDBException
from pynamodb.expressions.operand import Path, Value

from roamsync.adapters.dynamo_models import ValidationCacheItem
from roamsync.domain.errors import StorageError

GENERATION_KEY = "#generation"  # reserved: logical keys are always stored behind a "g<n>#" prefix
GENERATION_ATTRIBUTE = "generation"

DEFAULT_MAX_ENTRIES = 1_000
DEFAULT_ENTRY_LIFETIME_SECONDS = 60.0
DEFAULT_GENERATION_LIFETIME_SECONDS = 5.0

CacheSource = Literal["process", "table"]


@dataclass(frozen=True)
class CachedResult:
    """A fresh cached result, where it came from, and when it stops being fresh (epoch seconds)."""

    result: dict[str, Any]
    source: CacheSource
    expires_at: float


@dataclass(frozen=True)
class _LocalEntry:
    result: dict[str, Any]
    expires_at: float
    stored_at: float
    valid_until: float


class ValidationCache:
    """Get, put and clear cached validation results. Safe to share between threads."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        max_entries: int = DEFAULT_MAX_ENTRIES,
        entry_lifetime_seconds: float = DEFAULT_ENTRY_LIFETIME_SECONDS,
        generation_lifetime_seconds: float = DEFAULT_GENERATION_LIFETIME_SECONDS,
    ) -> None:
        if max_entries < 0 or entry_lifetime_seconds < 0 or generation_lifetime_seconds < 0:
            raise ValueError("cache bounds must be >= 0")
        self._clock = clock
        self.max_entries = max_entries
        self.entry_lifetime_seconds = entry_lifetime_seconds
        self.generation_lifetime_seconds = generation_lifetime_seconds
        self._entries: OrderedDict[str, _LocalEntry] = OrderedDict()
        self._generation: int | None = None
        self._generation_read_at = 0.0
        self._lock = threading.Lock()

    # ---- the port --------------------------------------------------------------------------------

    def get(self, key: str, *, generation: int | None = None) -> CachedResult | None:
        """The result stored under `key` in `generation` (default: the current one), if its
        expires_at is still ahead.

        Raises StorageError when DynamoDB fails.
        """
        now = self._now()
        stored_key = self._stored_key(key, now, generation)
        with self._lock:
            local = self._entries.get(stored_key)
            if local is not None:
                if local.stored_at <= now < local.valid_until:
                    self._entries.move_to_end(stored_key)
                    return CachedResult(copy.deepcopy(local.result), "process", local.expires_at)
                del self._entries[stored_key]
        try:
            item = ValidationCacheItem.get(stored_key)
        except DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"GetItem on ValidationCache failed: {exc.msg}") from None
        expires_at = float(item.expires_at) if item.expires_at is not None else 0.0
        if expires_at <= now or not isinstance(item.result, dict):
            return None  # expired but not yet deleted by TTL, or not a result at all
        self._remember(stored_key, item.result, expires_at, now)
        return CachedResult(copy.deepcopy(item.result), "table", expires_at)

    def put(
        self, key: str, result: Mapping[str, Any], ttl_seconds: float, *, generation: int | None = None
    ) -> None:
        """Store `result` under `key` in `generation` (default: the current one) for `ttl_seconds`
        (<= 0: not at all). A caller that read the generation before computing `result` passes it:
        a clear made meanwhile then leaves the result under the old generation, never read again.

        Raises StorageError when DynamoDB fails.
        """
        if ttl_seconds <= 0:
            return
        now = self._now()
        stored_key = self._stored_key(key, now, generation)
        expires_at = int(now + ttl_seconds)  # whole seconds, as DynamoDB's TTL reads them
        value = dict(result)
        try:
            ValidationCacheItem(cache_key=stored_key, expires_at=expires_at, result=value).save()
        except PynamoDBException as exc:
            raise StorageError(f"PutItem on ValidationCache failed: {exc.msg}") from None
        self._remember(stored_key, value, float(expires_at), now)

    def clear(self) -> int:
        """Invalidate every cached result at once (one atomic ADD); returns the new generation.

        Raises StorageError when DynamoDB fails.
        """
        try:
            response = ValidationCacheItem._get_connection().update_item(
                GENERATION_KEY,
                actions=[Path(GENERATION_ATTRIBUTE).add(Value({"N": "1"}))],
                return_values=ALL_NEW,
            )
        except PynamoDBException as exc:
            raise StorageError(f"UpdateItem on ValidationCache failed: {exc.msg}") from None
        generation = _generation_of(response.get("Attributes"))
        with self._lock:
            self._generation, self._generation_read_at = generation, self._now()
            self._entries.clear()
        return generation

    # ---- helpers ---------------------------------------------------------------------------------

    def generation(self) -> int:
        """The generation this instance currently keys by (re-read when its copy is too old)."""
        return self._current_generation(self._now())

    def drop_process_copies(self, *, generation: bool = False) -> None:
        """Forget the in-process results (and, with `generation`, the generation too)."""
        with self._lock:
            self._entries.clear()
            if generation:
                self._generation = None

    @property
    def process_entries(self) -> int:
        with self._lock:
            return len(self._entries)

    def _now(self) -> float:
        return self._clock().timestamp()

    def _stored_key(self, key: str, now: float, generation: int | None = None) -> str:
        return f"g{self._current_generation(now) if generation is None else generation}#{key}"

    def _current_generation(self, now: float) -> int:
        with self._lock:
            read_at = self._generation_read_at
            if self._generation is not None and read_at <= now < read_at + self.generation_lifetime_seconds:
                return self._generation
        generation = self._read_generation()
        with self._lock:
            self._generation, self._generation_read_at = generation, now
        return generation

    @staticmethod
    def _read_generation() -> int:
        try:
            # Strongly consistent: a clear that has returned elsewhere is seen by the next read.
            response = ValidationCacheItem._get_connection().get_item(GENERATION_KEY, consistent_read=True)
        except PynamoDBException as exc:
            raise StorageError(f"GetItem on ValidationCache failed: {exc.msg}") from None
        return _generation_of(response.get("Item"))

    def _remember(self, stored_key: str, result: Mapping[str, Any], expires_at: float, now: float) -> None:
        if self.max_entries == 0 or self.entry_lifetime_seconds == 0:
            return
        valid_until = min(now + self.entry_lifetime_seconds, expires_at)
        entry = _LocalEntry(copy.deepcopy(dict(result)), expires_at, now, valid_until)
        with self._lock:
            self._entries[stored_key] = entry
            self._entries.move_to_end(stored_key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


def _generation_of(attributes: Any) -> int:
    """The generation number in a raw DynamoDB item (0 when the item or attribute is missing)."""
    if not isinstance(attributes, dict):
        return 0
    value = attributes.get(GENERATION_ATTRIBUTE)
    if isinstance(value, dict) and "N" in value:
        return int(value["N"])
    return 0
