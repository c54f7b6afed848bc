"""Dedupe of the shop's rows: reseller-id duplicates, then combination duplicates (the rules are in
roamsync.domain.dedupe). Every removed row is archived in the run record, before-image and all,
before anything is deleted, so `undo` can put it back."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from roamsync.domain.changes import RowChange
from roamsync.domain.dedupe import DedupePlan, DuplicateKind, Removal, plan_dedupe
from roamsync.domain.errors import Conflict, StorageError
from roamsync.domain.runs import Run, RunKind, RunStatus, Trigger
from roamsync.observability import get_logger
from roamsync.services.ports import CatalogReader, Clock, MyPackageStore, RunStore
from roamsync.services.recording import finish_run


@dataclass
class DedupeOutcome:
    run: Run
    plan: DedupePlan
    # The removals that took effect (a dry run: all of them, as they would).
    removed: list[Removal] = field(default_factory=list)

    def count(self, kind: DuplicateKind) -> int:
        return sum(1 for r in self.removed if r.kind is kind)

    def body(self) -> dict[str, Any]:
        """What the dedupe route answers: status, removedCount, details (the removed rows by kind of
        duplicate), runId, dryRun."""
        return {
            "status": "success",
            "removedCount": len(self.removed),
            "details": {
                "resellerIdDuplicates": self.count(DuplicateKind.RESELLER_ID),
                "combinationDuplicates": self.count(DuplicateKind.COMBINATION),
            },
            "runId": self.run.run_id,
            "dryRun": self.run.dry_run,
        }


def _change(removal: Removal, applied: bool = True) -> dict[str, Any]:
    note = {"duplicate": removal.kind.value, "keptId": removal.kept_id}
    return RowChange(removal.row.id, before=removal.row, after=None, applied=applied, note=note).to_json()


def deduplicate(
    *,
    my_packages: MyPackageStore,
    packages: CatalogReader,
    runs: RunStore,
    clock: Clock,
    trigger: Trigger,
    dry_run: bool = False,
) -> DedupeOutcome:
    """Remove duplicate rows, keeping the most complete (then most recent) of each group.

    The run record, holding every row to remove, is saved before the first delete. A row edited
    since it was read is not deleted (its change stays on record as not applied and is counted in
    `conflicts`). A dry run plans the same removals and writes nothing, not even its run record.
    Raises StorageError after recording the run as failed.
    """
    run = Run(
        kind=RunKind.DEDUPE, trigger=trigger, dry_run=dry_run, started_at=clock(), status=RunStatus.RUNNING
    )
    started = time.perf_counter()
    try:
        rows = list(my_packages.all())
        catalog = packages.get_many(row.reseller_id for row in rows if row.reseller_id)
    except StorageError as exc:
        finish_run(run, runs, clock, RunStatus.FAILED, reason="storage_error", error=str(exc))
        raise
    plan = plan_dedupe(rows, catalog)
    run.timings_ms["plan"] = int((time.perf_counter() - started) * 1000)
    run.counts.update(
        {
            "checked": len(rows),
            "resellerIdDuplicates": plan.count(DuplicateKind.RESELLER_ID),
            "combinationDuplicates": plan.count(DuplicateKind.COMBINATION),
            "removed": 0,
            "conflicts": 0,
        }
    )
    run.details["changes"] = [_change(r) for r in plan.removals]
    outcome = DedupeOutcome(run=run, plan=plan)
    if dry_run:
        outcome.removed = list(plan.removals)
        run.counts["removed"] = len(plan.removals)
        finish_run(run, runs, clock, RunStatus.DRY_RUN)
        return outcome

    runs.save(run)  # archived before the first row goes
    lost: set[str] = set()
    try:
        for removal in plan.removals:
            try:
                my_packages.delete(removal.row.id, expected_updated_at=removal.row.updated_at)
            except Conflict:
                lost.add(removal.row.id)
                continue
            outcome.removed.append(removal)
    except StorageError as exc:
        finish_run(run, runs, clock, RunStatus.FAILED, reason="storage_error", error=str(exc))
        raise
    run.counts["removed"] = len(outcome.removed)
    run.counts["conflicts"] = len(lost)
    # The counts by kind say what was removed; the plan's are in the changes.
    run.counts["resellerIdDuplicates"] = outcome.count(DuplicateKind.RESELLER_ID)
    run.counts["combinationDuplicates"] = outcome.count(DuplicateKind.COMBINATION)
    run.details["changes"] = [_change(r, applied=r.row.id not in lost) for r in plan.removals]
    finish_run(run, runs, clock, RunStatus.SUCCEEDED)
    get_logger().info("dedupe finished", extra={"run_id": run.run_id, "counts": run.counts})
    return outcome
