"""Catalog sync: Roamify snapshot → normalised packages → diff → only the changes written → run record."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from roamsync.domain.errors import StorageError, UpstreamAuthError, UpstreamError
from roamsync.domain.packages import NormalisedCatalog, normalise_nodes
from roamsync.domain.runs import Run, RunKind, RunStatus, Trigger
from roamsync.domain.sync_plan import RefusalReason, SyncPlan, plan_sync
from roamsync.observability import get_logger
from roamsync.services.ports import CatalogSource, Clock, PackageStore, Progress, RunStore
from roamsync.services.recording import finish_run


@dataclass
class SyncOutcome:
    run: Run
    plan: SyncPlan | None
    # False when the run's last record could not be written: the table shows the run as it was
    # before (pending / running) until its lease runs out and readers settle it as abandoned.
    recorded: bool = True

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
) -> SyncOutcome:
    """Run one sync and record it.

    Writes only new, changed, deactivated and reactivated packages. A snapshot that is empty,
    incomplete or would deactivate more than `max_deactivation_ratio` of the active packages
    changes nothing unless `force` (and an incomplete one never deactivates anything). A dry run
    computes the same plan, writes no package and no run record. Never raises for upstream or
    storage failures: they end the run as `failed` with the reason.
    """
    progress = progress or _no_progress
    run = run or new_sync_run(clock, trigger, dry_run=dry_run, force=force)
    claimed = run.status is RunStatus.RUNNING  # a worker's claim already recorded it as running
    run.status = RunStatus.RUNNING
    run.dry_run, run.forced = dry_run, force
    if not dry_run and not claimed:
        try:
            runs.save(run)
        except StorageError as exc:
            # A sync that cannot record itself writes no package either: it stops here.
            return _finish(run, runs, clock, status=RunStatus.FAILED, reason="storage_error", error=str(exc))
    get_logger().info(
        "sync started", extra={"run_id": run.run_id, "trigger": run.trigger.value, "force": force}
    )

    snapshot = _fetch(source, page_size, progress, run)
    if isinstance(snapshot.failure, UpstreamAuthError):
        return _finish(
            run, runs, clock, status=RunStatus.FAILED, reason="upstream_auth", error=str(snapshot.failure)
        )
    return _plan_and_apply(
        snapshot,
        packages=packages,
        runs=runs,
        clock=clock,
        run=run,
        force=force,
        dry_run=dry_run,
        max_deactivation_ratio=max_deactivation_ratio,
        progress=progress,
    )


def _plan_and_apply(
    snapshot: _Snapshot,
    *,
    packages: PackageStore,
    runs: RunStore,
    clock: Clock,
    run: Run,
    force: bool,
    dry_run: bool,
    max_deactivation_ratio: float,
    progress: Progress,
) -> SyncOutcome:
    """Diff the snapshot against the table, apply the safety rules, write the changes, finish the run."""
    started = time.perf_counter()
    try:
        existing = packages.load_all()
    except StorageError as exc:
        return _finish(run, runs, clock, status=RunStatus.FAILED, reason="storage_error", error=str(exc))
    plan = plan_sync(
        snapshot.catalog,
        existing,
        now=clock(),
        max_deactivation_ratio=max_deactivation_ratio,
        complete=snapshot.failure is None,
    )
    run.timings_ms["diff"] = _ms(started)
    run.counts.update(plan.counts())
    if snapshot.catalog.skip_reasons:
        run.details["skipReasons"] = dict(snapshot.catalog.skip_reasons)

    decision = _decide(plan, snapshot, force, run)
    if decision.stop is not None:
        status, reason, error = decision.stop
        return _finish(run, runs, clock, plan, status=status, reason=reason, error=error)
    if dry_run:
        return _finish(run, runs, clock, plan, status=RunStatus.DRY_RUN, reason=run.reason, error=run.error)

    started = time.perf_counter()
    writes = decision.apply.writes
    progress("write", 0, len(writes))
    try:
        run.counts["batchWriteCalls"] = packages.write(writes)
    except StorageError as exc:
        return _finish(
            run, runs, clock, plan, status=RunStatus.FAILED, reason="storage_error", error=str(exc)
        )
    finally:
        run.timings_ms["write"] = _ms(started)
    progress("write", len(writes), len(writes))
    run.counts["written"] = len(writes)
    return _finish(run, runs, clock, plan, status=decision.status, reason=run.reason, error=run.error)


@dataclass
class _Snapshot:
    catalog: NormalisedCatalog
    failure: UpstreamError | None = None
    failed_page: int | None = None


def _fetch(source: CatalogSource, page_size: int, progress: Progress, run: Run) -> _Snapshot:
    """Read pages until the last one or the first that fails; what was read stays usable."""
    snapshot = _Snapshot(NormalisedCatalog())
    started = time.perf_counter()
    pages = 0
    try:
        for page in source.iter_catalog_pages(page_size=page_size):
            pages = page.number
            normalise_nodes(page.nodes, snapshot.catalog)
            progress("fetch", len(snapshot.catalog.packages) + snapshot.catalog.skipped, None)
    except UpstreamError as exc:
        snapshot.failure, snapshot.failed_page = exc, pages + 1
    run.timings_ms["fetch"] = _ms(started)
    run.counts["pages"] = pages
    return snapshot


@dataclass
class _Decision:
    apply: SyncPlan
    status: RunStatus = RunStatus.SUCCEEDED
    stop: tuple[RunStatus, str, str] | None = None  # (status, reason, error) when nothing is applied


def _decide(plan: SyncPlan, snapshot: _Snapshot, force: bool, run: Run) -> _Decision:
    """Apply the safety rules: refuse, or (forced) say what is applied anyway."""
    if plan.refusal is RefusalReason.INCOMPLETE_SNAPSHOT:
        error = f"page {snapshot.failed_page} failed: {snapshot.failure}"
        if not force:
            return _Decision(plan, stop=(RunStatus.FAILED, plan.refusal.value, error))
        # Forced: keep what the pages we did read say, but deactivate nothing from a partial view.
        run.reason, run.error = plan.refusal.value, error
        run.counts["deactivated"] = 0
        return _Decision(plan.without_deactivations(), status=RunStatus.PARTIAL)
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
) -> SyncOutcome:
    log = get_logger()
    extra = {"run_id": run.run_id, "status": status.value, "reason": reason, "counts": run.counts}
    recorded = True
    try:
        finish_run(run, runs, clock, status, reason=reason, error=error)
    except StorageError as exc:
        # What the run did is done; only its record is missing. The log keeps the whole summary.
        recorded = False
        log.error("sync run record not saved", extra={**extra, "summary": run.summary(), "error": str(exc)})
    if status in (RunStatus.FAILED, RunStatus.REFUSED):
        log.warning("sync did not apply", extra={**extra, "error": error})
    else:
        log.info("sync finished", extra=extra)
    return SyncOutcome(run=run, plan=plan, recorded=recorded)
