"""Catalog sync: Roamify snapshot → normalised packages → diff → only the changes written → run record.

What a sync promises, whatever Roamify does while it runs:

- one sync at a time (`SyncLock`): a second one finds the lock held and does not start;
- nothing is deactivated because one paged pass missed it: a stored package the pages did not show
  is looked up on its own (`GET ?packageId=`) and deactivated only when Roamify says it no longer
  lists it (the catalog can change while it is paged, a record can be unreadable);
- the run record says what was planned (`planned`) and what was written (`counts`), exactly, even
  when the writes stop part-way;
- no run is left `running` by an error the process survives: anything unexpected ends it `failed`
  with reason `internal_error`; a live sync renews its lease (and its lock) as it goes, so it is
  never mistaken for an abandoned one.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from roamsync.domain.errors import Conflict, RoamsyncError, StorageError, UpstreamAuthError, UpstreamError
from roamsync.domain.packages import NormalisedCatalog, Package, normalise_nodes
from roamsync.domain.runs import Run, RunKind, RunStatus, Trigger
from roamsync.domain.sync_plan import ChangeKind, RefusalReason, Stored, SyncPlan, plan_sync, to_write
from roamsync.observability import get_logger
from roamsync.services.ports import CatalogSource, Clock, PackageStore, Progress, RunStore, SyncLockPort
from roamsync.services.recording import finish_run

# The lock and the run's lease are renewed at most this often while the sync makes progress.
RENEW_EVERY = timedelta(seconds=30)
# How long the sync lock outlives its holder's last renewal (a crashed holder blocks no longer).
SYNC_LOCK_LEASE = timedelta(minutes=3)
# A nightly run that finds another sync running waits for it this long before recording itself skipped.
NIGHTLY_LOCK_WAIT_SECONDS = 300.0
LOCK_POLL_SECONDS = 10.0
# Deactivations are confirmed one GET each; a plan missing more than this many packages confirms
# this many and leaves the rest `unconfirmed` (active) for the next run.
DEFAULT_MAX_CONFIRMATIONS = 5_000
# Deactivated packages are read back whole, to be written inactive, this many at a time
# (BatchGetItem's limit).
READ_BACK_BATCH = 100

# With a time limit (the Lambda's), the sync stops this long before it, to record its end and
# release the lock: no call to Roamify is started that could outlast the limit less this margin.
FINISH_MARGIN_SECONDS = 10.0

# The payload key a background sync worker is invoked with (`{"task": WORKER_TASK, "runId": ...}`).
WORKER_TASK = "roamsync.sync"
SYNC_IN_PROGRESS = "sync_in_progress"
INTERNAL_ERROR = "internal_error"
LOCK_LOST = "lock_lost"
OUT_OF_TIME = "out_of_time"


class LockLost(RoamsyncError):
    """The sync lock (or the run record) was taken over while this sync ran: it must stop writing."""


class OutOfTime(RoamsyncError):
    """The sync's time limit (less FINISH_MARGIN_SECONDS) is reached: it stops where it is."""


@dataclass
class SyncOutcome:
    run: Run
    plan: SyncPlan | None
    # False when the run's last record could not be written: the table shows the run as it was
    # before (pending / running) until its lease runs out and readers settle it as abandoned.
    recorded: bool = True
    # The run holding the sync lock, when this sync did not start because of it.
    busy_with: str | None = None

    def preview(self) -> dict[str, Any]:
        """What a dry run shows: the run summary, the counts and a few ids of each change."""
        body = self.run.summary()
        if self.plan is not None:
            body["samples"] = self.plan.samples()
            body["wouldRefuse"] = self.plan.refusal.value if self.plan.refusal else None
        return body


def _no_progress(stage: str, done: int, total: int | None) -> None:
    return None


def _ms(since: float) -> int:
    return int((time.perf_counter() - since) * 1000)


def new_sync_run(clock: Clock, trigger: Trigger, *, dry_run: bool = False, force: bool = False) -> Run:
    return Run(kind=RunKind.SYNC, trigger=trigger, dry_run=dry_run, forced=force, started_at=clock())


@dataclass
class SyncSettings:
    """The settings a sync runs by."""

    max_deactivation_ratio: float
    page_size: int = 50
    max_confirmations: int = DEFAULT_MAX_CONFIRMATIONS


def run_sync(
    *,
    source: CatalogSource,
    packages: PackageStore,
    runs: RunStore,
    clock: Clock,
    max_deactivation_ratio: float,
    page_size: int = 50,
    trigger: Trigger = Trigger.CLI,
    dry_run: bool = False,
    force: bool = False,
    run: Run | None = None,
    progress: Progress | None = None,
    lock: SyncLockPort | None = None,
    lock_wait_seconds: float = 0.0,
    record_skip: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    max_confirmations: int = DEFAULT_MAX_CONFIRMATIONS,
    remaining: Callable[[], float] | None = None,
) -> SyncOutcome:
    """Run one sync and record it.

    Writes only new, changed, confirmed-gone and reactivated packages. A snapshot that is empty,
    incomplete or would deactivate more than `max_deactivation_ratio` of the active packages
    changes nothing unless `force` (and an incomplete one never deactivates anything). A dry run
    computes the same plan, writes no package and no run record, and takes no lock.

    With `lock`, the sync first takes it (waiting up to `lock_wait_seconds` for a running sync to
    finish); held by another run, nothing is done: the outcome names that run in `busy_with`, and
    the run is recorded `skipped` (reason `sync_in_progress`) when it was already recorded or
    `record_skip` asks for it. Never raises: upstream, storage and unexpected failures end the run
    as `failed` with the reason. With `remaining` (the seconds the invocation has left), the sync
    stops FINISH_MARGIN_SECONDS before that, failed with reason `out_of_time`, having started no
    Roamify call that could run past it.
    """
    progress = progress or _no_progress
    budget = _less_margin(remaining)
    run = run or new_sync_run(clock, trigger, dry_run=dry_run, force=force)
    claimed = run.status is RunStatus.RUNNING  # a worker's claim already recorded it as running
    run.status = RunStatus.RUNNING
    run.dry_run, run.forced = dry_run, force
    settings = SyncSettings(max_deactivation_ratio, page_size, max_confirmations)
    locked = lock if not dry_run else None
    if locked is not None:
        try:
            holder = _acquire(locked, run.run_id, lock_wait_seconds, sleep)
        except StorageError as exc:
            return _finish(run, runs, clock, status=RunStatus.FAILED, reason="storage_error", error=str(exc))
        if holder is not None:
            return _busy(run, runs, clock, holder, record=claimed or record_skip)
    try:
        if not dry_run and not claimed:
            try:
                runs.save(run)
            except StorageError as exc:
                # A sync that cannot record itself writes no package either: it stops here.
                return _finish(
                    run, runs, clock, status=RunStatus.FAILED, reason="storage_error", error=str(exc)
                )
        get_logger().info(
            "sync started", extra={"run_id": run.run_id, "trigger": run.trigger.value, "force": force}
        )
        beat = _Heartbeat(run, runs, locked, clock, budget)
        return _Sync(
            source=source,
            packages=packages,
            runs=runs,
            clock=clock,
            settings=settings,
            run=run,
            progress=progress,
            beat=beat,
            remaining=budget,
        ).execute(force=force)
    except Exception as exc:
        # No error the process survives may leave the run `running` until its lease runs out.
        if isinstance(exc, LockLost | OutOfTime):
            reason, error = (LOCK_LOST if isinstance(exc, LockLost) else OUT_OF_TIME), str(exc)
            get_logger().warning("sync stopped", extra={"run_id": run.run_id, "reason": reason})
        else:
            reason, error = INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"
            get_logger().exception("sync crashed", extra={"run_id": run.run_id})
            if run.status.finished:  # it crashed while recording its end: the record is what it is
                return SyncOutcome(run=run, plan=None, recorded=False)
        return _finish(
            run, runs, clock, status=RunStatus.FAILED, reason=reason, error=error, expected_status=_own(run)
        )
    finally:
        if locked is not None:
            with suppress(StorageError):  # an unreleased lock only waits out its lease
                locked.release(run.run_id)


def _own(run: Run) -> RunStatus | None:
    """The status the stored record must still have for this run to write its end over it: its own
    `running` (never a reader's `abandoned` verdict); None for a dry run, which records nothing."""
    return None if run.dry_run else RunStatus.RUNNING


def _less_margin(remaining: Callable[[], float] | None) -> Callable[[], float] | None:
    if remaining is None:
        return None
    return lambda: remaining() - FINISH_MARGIN_SECONDS


def _acquire(
    lock: SyncLockPort, holder: str, wait_seconds: float, sleep: Callable[[float], None]
) -> str | None:
    """Take the lock, polling while another run holds it, for up to `wait_seconds`."""
    waited = 0.0
    while True:
        current = lock.acquire(holder)
        if current is None or waited >= wait_seconds:
            return current
        pause = min(LOCK_POLL_SECONDS, wait_seconds - waited)
        sleep(pause)
        waited += pause


def _busy(run: Run, runs: RunStore, clock: Clock, holder: str, *, record: bool) -> SyncOutcome:
    message = f"another sync is running (run {holder}); this one did not start"
    run.details["runningRunId"] = holder
    get_logger().warning("sync not started", extra={"run_id": run.run_id, "running_run_id": holder})
    if not record:
        run.status, run.reason, run.error, run.finished_at = (
            RunStatus.SKIPPED,
            SYNC_IN_PROGRESS,
            message,
            clock(),
        )
        return SyncOutcome(run=run, plan=None, busy_with=holder)
    outcome = _finish(run, runs, clock, status=RunStatus.SKIPPED, reason=SYNC_IN_PROGRESS, error=message)
    outcome.busy_with = holder
    return outcome


class _Heartbeat:
    """Renews the sync lock and the run's lease as the sync makes progress (at most every RENEW_EVERY).

    Raises LockLost when either was taken over (the lock expired and another sync took it, or a
    reader settled the run as abandoned): the sync must not write on regardless.
    """

    def __init__(
        self,
        run: Run,
        runs: RunStore,
        lock: SyncLockPort | None,
        clock: Clock,
        remaining: Callable[[], float] | None = None,
    ) -> None:
        self._run, self._runs, self._lock, self._clock = run, runs, lock, clock
        self._remaining = remaining
        self._last = self._lock_confirmed = clock()

    def __call__(self) -> None:
        # Below a second left, no Roamify call can be started (the client wants a quarter of one).
        if self._remaining is not None and self._remaining() < 1.0:
            raise OutOfTime("the sync ran out of time before its invocation's limit; nothing more is done")
        now = self._clock()
        if now - self._last < RENEW_EVERY:
            return
        self._last = now
        if self._lock is not None:
            try:
                renewed = self._lock.renew(self._run.run_id)
            except StorageError as exc:
                # A renewal DynamoDB refused: the lease still runs; near its end the sync stops.
                if now - self._lock_confirmed > SYNC_LOCK_LEASE - 2 * RENEW_EVERY:
                    raise LockLost(f"the sync lock could not be renewed in time: {exc}") from None
                get_logger().warning("sync lock not renewed", extra={"run_id": self._run.run_id})
            else:
                if not renewed:
                    raise LockLost("the sync lock was taken over by another run")
                self._lock_confirmed = now
        if self._run.dry_run:
            return
        try:
            self._runs.save(self._run, expected_status=RunStatus.RUNNING)
        except Conflict:
            raise LockLost("the run record was settled by someone else while the sync ran") from None
        except StorageError as exc:
            # Not fatal: the lease has minutes left, and the next beat tries again.
            get_logger().warning(
                "run lease not renewed", extra={"run_id": self._run.run_id, "error": str(exc)}
            )


@dataclass
class _Snapshot:
    catalog: NormalisedCatalog
    failure: UpstreamError | None = None
    failed_page: int | None = None


@dataclass
class _Decision:
    apply: SyncPlan
    status: RunStatus = RunStatus.SUCCEEDED
    stop: tuple[RunStatus, str, str] | None = None  # (status, reason, error) when nothing is applied
    deactivate: bool = True


@dataclass
class _Written:
    """What the writes stored, by kind, as BatchWriteItem reports it."""

    kinds: dict[str, ChangeKind]
    applied: Counter[ChangeKind] = field(default_factory=Counter)

    def __call__(self, keys: list[str]) -> None:
        for key in keys:
            self.applied[self.kinds[key]] += 1

    @property
    def total(self) -> int:
        return sum(self.applied.values())


class _Sync:
    """One sync's steps, sharing its ports and run record."""

    def __init__(
        self,
        *,
        source: CatalogSource,
        packages: PackageStore,
        runs: RunStore,
        clock: Clock,
        settings: SyncSettings,
        run: Run,
        progress: Progress,
        beat: _Heartbeat,
        remaining: Callable[[], float] | None = None,
    ) -> None:
        self.source, self.packages, self.runs, self.clock = source, packages, runs, clock
        self.settings, self.run, self.progress, self.beat = settings, run, progress, beat
        self.remaining = remaining

    def execute(self, *, force: bool) -> SyncOutcome:
        run = self.run
        snapshot = self.fetch()
        if isinstance(snapshot.failure, UpstreamAuthError):
            return self.finish(status=RunStatus.FAILED, reason="upstream_auth", error=str(snapshot.failure))
        started = time.perf_counter()
        try:
            stored = self.packages.load_stored(progress=self._reading)
        except StorageError as exc:
            return self.finish(status=RunStatus.FAILED, reason="storage_error", error=str(exc))
        run.timings_ms["read"] = _ms(started)
        started = time.perf_counter()
        plan = self.plan(snapshot, stored)
        decision = _decide(plan, snapshot, force, run)
        if decision.stop is None and decision.deactivate and (plan.missing or plan.shrunk):
            gone = self.confirm(snapshot.catalog, plan)
            plan = self.plan(snapshot, stored, gone=gone)
            decision = _decide(plan, snapshot, force, run)
        run.timings_ms["diff"] = _ms(started)
        if decision.stop is not None:
            status, reason, error = decision.stop
            return self.finish(plan, status=status, reason=reason, error=error)
        if self.run.dry_run:
            return self.finish(plan, status=RunStatus.DRY_RUN, reason=run.reason, error=run.error)
        return self.write(snapshot.catalog, stored, decision)

    # --- steps ----------------------------------------------------------------------------------

    def fetch(self) -> _Snapshot:
        """Read pages until the last one or the first that fails; what was read stays usable."""
        snapshot = _Snapshot(NormalisedCatalog())
        started = time.perf_counter()
        pages = 0
        try:
            pages_read = self.source.iter_catalog_pages(
                page_size=self.settings.page_size, remaining=self.remaining
            )
            for page in pages_read:
                pages += 1
                normalise_nodes(page.nodes, snapshot.catalog, page=page.number)
                self.progress("fetch", len(snapshot.catalog) + snapshot.catalog.skipped, None)
                self.beat()
        except UpstreamError as exc:
            snapshot.failure, snapshot.failed_page = exc, exc.page or pages + 1
            self.beat()  # a call cut short by the time limit is the time limit, not Roamify
        self.run.timings_ms["fetch"] = _ms(started)
        self.run.counts["pages"] = pages
        return snapshot

    def _reading(self, done: int) -> None:
        self.progress("read", done, None)
        self.beat()

    def plan(
        self, snapshot: _Snapshot, stored: dict[str, Stored], *, gone: set[str] | None = None
    ) -> SyncPlan:
        plan = plan_sync(
            snapshot.catalog,
            stored,
            max_deactivation_ratio=self.settings.max_deactivation_ratio,
            complete=snapshot.failure is None,
            gone=gone,
        )
        run = self.run
        run.counts.update(
            {
                "fetched": plan.fetched,
                "unchanged": plan.unchanged,
                "skipped": plan.skipped,
                **{kind.value: 0 for kind in ChangeKind},
            }
        )
        run.planned = plan.planned()
        if snapshot.catalog.skip_reasons:
            run.details["skipReasons"] = dict(snapshot.catalog.skip_reasons)
        return plan

    def confirm(self, catalog: NormalisedCatalog, plan: SyncPlan) -> set[str]:
        """Ask Roamify about every package the pages did not show (and every one listed with less
        coverage than stored), one lookup each. Returns the ids Roamify confirmed it no longer lists;
        the ones it still lists join the snapshot with the listing the lookup returned.
        """
        started = time.perf_counter()
        asked = [*plan.missing, *plan.shrunk][: self.settings.max_confirmations]
        for reseller_id in plan.shrunk[max(0, self.settings.max_confirmations - len(plan.missing)) :]:
            catalog.forget(reseller_id)  # not asked: its stored coverage stands until a sync can ask
        unasked = len(plan.missing) + len(plan.shrunk) - len(asked)
        missing = set(plan.missing)
        gone: set[str] = set()
        still_listed = unconfirmed = 0
        lookups = self.source.lookup_packages(asked, remaining=self.remaining)
        for done, (reseller_id, answer) in enumerate(lookups, start=1):
            self.progress("confirm", done, len(asked))
            self.beat()
            if isinstance(answer, UpstreamError):
                unconfirmed += 1
                if reseller_id not in missing:
                    catalog.forget(reseller_id)  # less coverage than stored, unconfirmed: kept as stored
                continue
            if not answer:
                if reseller_id in missing:
                    gone.add(reseller_id)
                continue
            still_listed += reseller_id in missing
            _fold_lookup(catalog, reseller_id, answer)
        counts = self.run.counts
        counts["confirmedGone"] = len(gone)
        counts["stillListed"] = still_listed
        counts["unconfirmed"] = unconfirmed + unasked
        self.run.timings_ms["confirm"] = _ms(started)
        if still_listed or unconfirmed or unasked:
            get_logger().warning(
                "packages missing from the pages were not deactivated",
                extra={
                    "run_id": self.run.run_id,
                    "still_listed": still_listed,
                    "unconfirmed": unconfirmed + unasked,
                },
            )
        return gone

    def write(
        self, catalog: NormalisedCatalog, stored: dict[str, Stored], decision: _Decision
    ) -> SyncOutcome:
        plan = decision.apply
        changes = plan.changes()
        written = _Written({rid: kind for kind, rid in changes})
        counts = self.run.counts
        started = time.perf_counter()
        self.progress("write", 0, len(changes))
        now = self.clock()

        def on_written(keys: list[str]) -> None:
            written(keys)
            self.progress("write", written.total, len(changes))
            self.beat()

        failure: tuple[str, str] | None = None
        try:
            counts["batchWriteCalls"] = self.packages.write(
                self._items(changes, catalog, stored, now), on_written=on_written
            )
        except LockLost as exc:
            failure = (LOCK_LOST, str(exc))
        except OutOfTime as exc:
            failure = (OUT_OF_TIME, str(exc))
        except StorageError as exc:
            failure = ("storage_error", str(exc))
        finally:
            self.run.timings_ms["write"] = _ms(started)
        for kind in ChangeKind:
            counts[kind.value] = written.applied[kind]
        counts["written"] = written.total
        counts["notWritten"] = len(changes) - written.total
        if failure is not None:
            reason, error = failure
            return self.finish(plan, status=RunStatus.FAILED, reason=reason, error=error)
        return self.finish(plan, status=decision.status, reason=self.run.reason, error=self.run.error)

    def _items(
        self,
        changes: list[tuple[ChangeKind, str]],
        catalog: NormalisedCatalog,
        stored: dict[str, Stored],
        now: datetime,
    ) -> Iterator[Package]:
        """What each change writes, built as the batches need it (never the whole list at once)."""
        deactivated: list[str] = []
        for kind, reseller_id in changes:
            if kind is ChangeKind.DEACTIVATED:
                deactivated.append(reseller_id)
            else:
                yield to_write(kind, catalog.get(reseller_id), None, stored.get(reseller_id), now)
        ids = iter(deactivated)
        while chunk := list(islice(ids, READ_BACK_BATCH)):
            whole = self.packages.get_many(chunk)
            for reseller_id in chunk:
                if reseller_id in whole:  # removed from the table meanwhile: nothing to deactivate
                    yield to_write(
                        ChangeKind.DEACTIVATED, None, whole[reseller_id], stored.get(reseller_id), now
                    )

    def finish(
        self, plan: SyncPlan | None = None, *, status: RunStatus, reason: str | None, error: str | None
    ) -> SyncOutcome:
        # Only over its own running record: never over a reader's "abandoned" verdict.
        return _finish(
            self.run,
            self.runs,
            self.clock,
            plan,
            status=status,
            reason=reason,
            error=error,
            expected_status=RunStatus.RUNNING,
        )


def _fold_lookup(catalog: NormalisedCatalog, reseller_id: str, nodes: list[Any]) -> None:
    """Take what a lookup of one package returned as its listing (the lookup lists every country node
    that carries it; the pages' listings of it are kept as well, for their coverage)."""
    own = [
        {
            **node,
            "packages": [
                p
                for p in node.get("packages", [])
                if isinstance(p, dict) and p.get("packageId") == reseller_id
            ],
        }
        for node in nodes
        if isinstance(node, dict) and isinstance(node.get("packages"), list)
    ]
    looked_up = normalise_nodes(own)
    package = looked_up.get(reseller_id)
    if package is None:
        catalog.unreadable_ids.add(reseller_id)  # listed, but unreadable: left as it is
        return
    paged = catalog.get(reseller_id)
    if paged is not None:
        package = package.model_copy(
            update={"coverage": tuple(sorted(set(package.coverage) | set(paged.coverage)))}
        )
    catalog.replace(package)


def _decide(plan: SyncPlan, snapshot: _Snapshot, force: bool, run: Run) -> _Decision:
    """Apply the safety rules: refuse, or (forced) say what is applied anyway."""
    if plan.refusal is RefusalReason.INCOMPLETE_SNAPSHOT:
        error = f"page {snapshot.failed_page} failed: {snapshot.failure}"
        if not force:
            return _Decision(plan, stop=(RunStatus.FAILED, plan.refusal.value, error), deactivate=False)
        # Forced: keep what the pages we did read say, but deactivate nothing from a partial view.
        run.reason, run.error = plan.refusal.value, error
        return _Decision(plan.without_deactivations(), status=RunStatus.PARTIAL, deactivate=False)
    if plan.refusal is not None:
        if not force:
            return _Decision(plan, stop=(RunStatus.REFUSED, plan.refusal.value, plan.refusal_detail))
        run.reason = f"forced_over_{plan.refusal.value}"
        run.details["forcedOver"] = plan.refusal_detail
    return _Decision(plan)


def _finish(
    run: Run,
    runs: RunStore,
    clock: Clock,
    plan: SyncPlan | None = None,
    *,
    status: RunStatus,
    reason: str | None,
    error: str | None,
    expected_status: RunStatus | None = None,
) -> SyncOutcome:
    log = get_logger()
    extra = {"run_id": run.run_id, "status": status.value, "reason": reason, "counts": run.counts}
    recorded = True
    try:
        finish_run(run, runs, clock, status, reason=reason, error=error, expected_status=expected_status)
    except Conflict as exc:
        # A reader settled the run as abandoned while it ran: its record stays so; the log has the rest.
        recorded = False
        log.error("sync run record not saved", extra={**extra, "summary": run.summary(), "error": str(exc)})
    except StorageError as exc:
        # What the run did is done; only its record is missing. The log keeps the whole summary.
        recorded = False
        log.error("sync run record not saved", extra={**extra, "summary": run.summary(), "error": str(exc)})
    if status in (RunStatus.FAILED, RunStatus.REFUSED):
        log.warning("sync did not apply", extra={**extra, "error": error})
    else:
        log.info("sync finished", extra=extra)
    return SyncOutcome(run=run, plan=plan, recorded=recorded)


@dataclass
class SyncStart:
    """What starting a sync in the background came to: the pending run handed to a worker, or the
    run already holding the lock (`busy_with`), or a hand-off that failed (`failed`: the run is
    recorded failed, reason `invoke_failed`, and the lock released)."""

    run: Run | None
    busy_with: str | None = None
    failed: str | None = None


def start_sync(
    *,
    runs: RunStore,
    lock: SyncLockPort,
    hand_off: Callable[[Run], None],
    clock: Clock,
    trigger: Trigger,
    force: bool,
) -> SyncStart:
    """Take the sync lock for a new run, record it `pending` and hand it to a worker.

    Held by another run: nothing is written, `busy_with` names it. The worker re-takes the same lock
    under the same run id, so nothing else can start in between. Raises StorageError when DynamoDB
    fails before anything was handed off (the lock, if taken, is released).
    """
    run = new_sync_run(clock, trigger, force=force)
    holder = lock.acquire(run.run_id)
    if holder is not None:
        return SyncStart(run=None, busy_with=holder)
    try:
        runs.save(run)
    except StorageError:
        with suppress(StorageError):
            lock.release(run.run_id)
        raise
    try:
        hand_off(run)
    except Exception as exc:
        get_logger().exception("could not start the sync worker", extra={"run_id": run.run_id})
        with suppress(StorageError):
            lock.release(run.run_id)
        finish_run(run, runs, clock, RunStatus.FAILED, reason="invoke_failed", error=str(exc))
        return SyncStart(run=run, failed=str(exc))
    return SyncStart(run=run)
