"""`roamsync sync` and `roamsync status`."""

from __future__ import annotations

import json
import sys

import click

from roamsync.container import Container, get_container
from roamsync.domain.runs import RunKind, Trigger
from roamsync_dev.cli.output import (
    RECORD_NOT_SAVED_EXIT,
    SYNC_IN_PROGRESS_EXIT,
    _describe_run,
    _emit,
    _exit_code,
    _TerminalProgress,
)
from roamsync_dev.cli.root import main


@main.command()
@click.option("--dry-run", is_flag=True, help="Compute the plan and write nothing.")
@click.option("--force", is_flag=True, help="Apply even when the safety rules would refuse.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def sync(dry_run: bool, force: bool, as_json: bool) -> None:
    """Sync the catalog from Roamify now, in this process.

    Exit status: 0 applied (or dry run), 1 failed, 2 refused by the safety rules, 3 partial,
    4 ran but its run record could not be written (the summary printed is all there is),
    5 another sync is running (nothing was done; its run id is printed).
    """
    from roamsync.container import sync_catalog

    progress = _TerminalProgress(sys.stderr.isatty() and not as_json)
    outcome = sync_catalog(get_container(), Trigger.CLI, dry_run=dry_run, force=force, progress=progress)
    if outcome.busy_with is not None:
        payload = {"error": "sync_in_progress", "runId": outcome.busy_with}
        _emit(payload, as_json, f"a sync is already running (run {outcome.busy_with}); nothing was done")
        sys.exit(SYNC_IN_PROGRESS_EXIT)
    body = outcome.preview() if dry_run else outcome.run.summary()
    text = _describe_run(body)
    if dry_run and body.get("samples"):
        text += "\n  samples: " + json.dumps(body["samples"])
    if not outcome.recorded:
        body["recorded"] = False
        text += (
            "\n  warning: the run record could not be written to the Runs table (this summary is all"
            " there is); status will show the run as failed / abandoned after its 16-minute lease"
        )
    _emit(body, as_json, text)
    sys.exit(_exit_code(outcome.run) if outcome.recorded else RECORD_NOT_SAVED_EXIT)


@main.command()
@click.option("--limit", default=5, show_default=True, help="Runs to show.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(limit: int, as_json: bool) -> None:
    """The latest sync runs, newest first, then what GET /api/admin/packages/sync-status says:
    whether a sync is needed, the nightly schedule, and whether Roamify answers its health check."""
    from roamsync import self_healing

    container: Container = get_container()
    runs = [r.summary() for r in container.runs.latest(RunKind.SYNC, limit=limit)]
    overview = self_healing.sync_status(container)
    schedule = overview["schedule"]
    if schedule["enabled"] is None:
        schedule_text = f"unknown ({schedule['error']})"
    else:
        schedule_text = f"{'enabled' if schedule['enabled'] else 'disabled'} ({schedule['expression']})"
    needed = overview["syncNeeded"]
    text = "\n".join(
        [
            "\n".join(_describe_run(r) for r in runs) or "no sync has run yet",
            "",
            f"sync needed:  {'yes (' + ', '.join(overview['syncNeededReasons']) + ')' if needed else 'no'}",
            f"schedule:     {schedule_text}",
            f"roamify:      {'reachable' if overview['roamifyApiHealthy'] else 'NOT reachable'}",
        ]
    )
    _emit({"syncRuns": runs, **overview}, as_json, text)
