"""Ending a run record the same way in every self-healing service."""

from __future__ import annotations

from roamsync.domain.runs import Run, RunStatus
from roamsync.services.ports import Clock, RunStore


def finish_run(
    run: Run,
    runs: RunStore,
    clock: Clock,
    status: RunStatus,
    *,
    reason: str | None = None,
    error: str | None = None,
    expected_status: RunStatus | None = None,
) -> Run:
    """Stamp the run's outcome and end time and save it (a dry run is never saved); with
    `expected_status`, only over a stored record still in that status (else Conflict)."""
    run.status, run.reason, run.error = status, reason, error
    run.finished_at = clock()
    if not run.dry_run:
        runs.save(run, expected_status=expected_status)
    return run
