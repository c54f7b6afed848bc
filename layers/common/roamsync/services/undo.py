"""Undo of an auto-fix or dedupe run: put back the before-images the run recorded, row by row, only
where the row is still as the run left it (roamsync.domain.changes). Every write is conditional, so
an edit that lands between the check and the write is reported too, never overwritten. Undoing the
same run again restores nothing and reports the rows as already restored. The undo is a run of its
own (kind "undo") naming the run it undid."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from roamsync.domain.changes import RowChange, UndoStep, undo_step
from roamsync.domain.errors import BadRequest, Conflict, NotFound, StorageError
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.runs import Run, RunKind, RunStatus, Trigger
from roamsync.observability import get_logger
from roamsync.services.ports import Clock, MyPackageStore, RunStore
from roamsync.services.recording import finish_run

UNDOABLE: frozenset[RunKind] = frozenset({RunKind.AUTOFIX, RunKind.DEDUPE})
DETAIL_LIMIT = 1000


@dataclass
class UndoOutcome:
    run: Run  # the undo's own record
    undone: Run
    restored: list[str] = field(default_factory=list)
    already_restored: list[str] = field(default_factory=list)
    conflicts: list[dict[str, str]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {
            "runId": self.run.run_id,
            "undoneRunId": self.undone.run_id,
            "restoredCount": len(self.restored),
            "alreadyRestoredCount": len(self.already_restored),
            "conflicts": list(self.conflicts),
        }


def _target(run_id: str, runs: RunStore) -> tuple[Run, list[RowChange]]:
    target = runs.get(run_id)
    if target is None:
        raise NotFound(f"no run {run_id!r}")
    if target.kind not in UNDOABLE:
        raise BadRequest(
            f"run {run_id!r} is a {target.kind.value} run; only auto-fix and dedupe runs can be undone"
        )
    if target.status in (RunStatus.DRY_RUN, RunStatus.SKIPPED, RunStatus.PENDING):
        raise BadRequest(f"run {run_id!r} changed nothing (it is {target.status.value})")
    try:
        changes = [RowChange.from_json(c) for c in target.details.get("changes") or []]
    except ValueError as exc:
        raise StorageError(f"run {run_id!r} has an unreadable change record: {exc}") from None
    return target, changes


def _put_back(change: RowChange, current: MyPackage | None, my_packages: MyPackageStore) -> None:
    """Write `change.before` over the row as the run left it (`current`). Raises Conflict."""
    if change.before is None:  # the run created the row
        if current is not None:
            my_packages.delete(change.id, expected_updated_at=current.updated_at)
    elif current is None:  # the run removed the row
        my_packages.create(change.before)
    else:
        my_packages.replace(change.before, expected_updated_at=current.updated_at)


def undo_run(
    run_id: str,
    *,
    my_packages: MyPackageStore,
    runs: RunStore,
    clock: Clock,
    trigger: Trigger,
) -> UndoOutcome:
    """Restore what auto-fix or dedupe run `run_id` changed; report rows changed since as conflicts.

    Raises NotFound for an unknown run, BadRequest for a run that is not an applied auto-fix or
    dedupe, StorageError (after recording the undo as failed) when DynamoDB fails.
    """
    target, changes = _target(run_id, runs)
    run = Run(
        kind=RunKind.UNDO,
        trigger=trigger,
        started_at=clock(),
        status=RunStatus.RUNNING,
        details={"undoes": target.run_id, "undoesKind": target.kind.value},
    )
    runs.save(run)
    outcome = UndoOutcome(run=run, undone=target)
    try:
        for change in changes:
            if not change.applied:
                continue
            current = my_packages.get(change.id)
            step, reason = undo_step(change, current)
            if step is UndoStep.RESTORE:
                try:
                    _put_back(change, current, my_packages)
                    outcome.restored.append(change.id)
                    continue
                except Conflict:
                    # Changed between the read and the write: judge it again as it is now.
                    step, reason = undo_step(change, my_packages.get(change.id))
                    if step is UndoStep.RESTORE:
                        step, reason = UndoStep.CONFLICT, None
            if step is UndoStep.ALREADY_RESTORED:
                outcome.already_restored.append(change.id)
            else:
                outcome.conflicts.append(
                    {"id": change.id, "reason": reason.value if reason else "edited_since"}
                )
    except StorageError as exc:
        _record(outcome)
        finish_run(run, runs, clock, RunStatus.FAILED, reason="storage_error", error=str(exc))
        raise
    _record(outcome)
    status = RunStatus.PARTIAL if outcome.conflicts else RunStatus.SUCCEEDED
    finish_run(run, runs, clock, status, reason="conflicts" if outcome.conflicts else None)
    get_logger().info(
        "undo finished", extra={"run_id": run.run_id, "undoes": target.run_id, "counts": run.counts}
    )
    return outcome


def _record(outcome: UndoOutcome) -> None:
    outcome.run.counts.update(
        {
            "restored": len(outcome.restored),
            "alreadyRestored": len(outcome.already_restored),
            "conflicts": len(outcome.conflicts),
        }
    )
    # The counts are whole; the lists keep a run record well inside DynamoDB's 400 KB item.
    outcome.run.details["restored"] = outcome.restored[:DETAIL_LIMIT]
    outcome.run.details["conflicts"] = outcome.conflicts[:DETAIL_LIMIT]
