"""Health and sync status: what an operator reads to know whether the catalog can be trusted.

`health_report` scores every shop row and counts the catalog; `sync_status` tells what the last sync
and validation runs did and whether a sync is needed now. Both take their ports as arguments; the
schedule's state and Roamify's reachability are read by the caller (roamsync.self_healing) and
passed in, so this module does no I/O of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from roamsync.domain.runs import Run, RunKind, RunStatus
from roamsync.services.mapping import mapping_health
from roamsync.services.ports import CatalogCounter, Clock, MyPackageStore, RunStore

# A nightly run every 24 hours, plus two hours of slack for a slow or late one.
SYNC_STALE_AFTER = timedelta(hours=26)
# Runs of one kind read to find the newest one that applied (dry runs are never recorded, but a
# row of failed runs may stand between now and the last good one).
RUNS_LOOKED_AT = 50

NO_ROWS_REASON = "there are no shop packages (MyPackages is empty), so there is nothing to score"

# Why a sync is needed (`syncNeededReasons`).
NEVER_SYNCED = "no_successful_sync"
STALE = "last_successful_sync_older_than_26_hours"
LAST_SYNC_NOT_APPLIED = "last_sync_{status}"


def health_report(*, my_packages: MyPackageStore, runs: RunStore, catalog: CatalogCounter) -> dict[str, Any]:
    """Health over every shop row (as the last validation left them), when validation last finished,
    and the catalog's active / inactive counts.

    `healthScore` is the valid share in percent with one decimal, or null with `reason` saying why
    (no rows: a score over nothing is not 100%). Raises StorageError when a table cannot be read.
    """
    body = mapping_health(my_packages=my_packages, runs=runs)
    active, inactive = catalog.count_by_status()
    return {
        **body,
        "reason": NO_ROWS_REASON if body["healthScore"] is None else None,
        "catalog": {"active": active, "inactive": inactive},
    }


def _recorded(runs: RunStore, kind: RunKind) -> list[Run]:
    return [run for run in runs.latest(kind, limit=RUNS_LOOKED_AT) if not run.dry_run]


def last_successful(sync_runs: list[Run]) -> Run | None:
    return next((r for r in sync_runs if r.status is RunStatus.SUCCEEDED and r.finished_at), None)


def sync_needed_reasons(sync_runs: list[Run], now: datetime) -> list[str]:
    """Why a sync is needed now (empty: it is not), from the sync runs newest first.

    Needed when no sync ever succeeded, when the last one that did finished more than 26 hours ago,
    or when the newest finished sync did not apply in full (failed, refused or partial).
    """
    reasons: list[str] = []
    good = last_successful(sync_runs)
    if good is None:
        reasons.append(NEVER_SYNCED)
    elif good.finished_at is not None and now - good.finished_at > SYNC_STALE_AFTER:
        reasons.append(STALE)
    finished = next((r for r in sync_runs if r.status.finished), None)
    if finished is not None and finished.status in (RunStatus.FAILED, RunStatus.REFUSED, RunStatus.PARTIAL):
        reasons.append(LAST_SYNC_NOT_APPLIED.format(status=finished.status.value))
    return reasons


def sync_status(
    *,
    runs: RunStore,
    clock: Clock,
    schedule: Mapping[str, Any],
    roamify_api_healthy: bool,
) -> dict[str, Any]:
    """The last sync and validation runs (a pending or running one included: that is the progress
    of a sync the API started), the schedule as given, Roamify's reachability as given, and
    whether a sync is needed (`syncNeeded`, with `syncNeededReasons`).
    """
    now = clock()
    syncs = _recorded(runs, RunKind.SYNC)
    validations = _recorded(runs, RunKind.VALIDATION)
    good = last_successful(syncs)
    reasons = sync_needed_reasons(syncs, now)
    return {
        "lastSync": syncs[0].summary() if syncs else None,
        "lastSuccessfulSync": good.summary() if good else None,
        "lastValidation": validations[0].summary() if validations else None,
        "schedule": dict(schedule),
        "roamifyApiHealthy": roamify_api_healthy,
        "syncNeeded": bool(reasons),
        "syncNeededReasons": reasons,
        "checkedAt": now.isoformat(),
    }


class CachedCheck:
    """A yes/no probe (is Roamify up?) answered from memory for `ttl_seconds` after each real call,
    so a dashboard refreshing every few seconds does not turn into a stream of upstream calls."""

    def __init__(
        self,
        probe: Callable[[], bool],
        *,
        ttl_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._value: bool | None = None
        self._expires_at = 0.0

    def __call__(self) -> bool:
        with self._lock:
            if self._value is not None and self._monotonic() < self._expires_at:
                return self._value
        value = bool(self._probe())  # outside the lock: a slow probe does not block cached readers
        with self._lock:
            self._value, self._expires_at = value, self._monotonic() + self._ttl
        return value
