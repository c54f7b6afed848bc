"""Sync function: `POST /api/admin/packages/sync`, the nightly schedule, and the sync worker.

The nightly schedule runs the sync, then mapping validation, then auto-fix (roamsync.services.nightly);
it answers with the sync's summary plus `validation` and `autofix`.

The API only starts a sync: it records a pending run and hands the work to a fresh asynchronous
invocation of this same function, so a long sync is not bound by API Gateway's 29 seconds.
A dry run is computed in the request and answered with the plan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel, ConfigDict, Field

from roamsync import self_healing
from roamsync.container import Container, get_container, sync_catalog
from roamsync.deadline import Budget
from roamsync.domain.runs import Run, RunStatus, Trigger
from roamsync.http import error_response, json_response, new_resolver
from roamsync.observability import add_count, add_counts, get_logger, lambda_entrypoint
from roamsync.services.sync import NIGHTLY_LOCK_WAIT_SECONDS, SYNC_IN_PROGRESS, WORKER_TASK, SyncOutcome

# A start that could not hand its run on may be tried again this soon.
SYNC_RETRY_AFTER_SECONDS = 5
# The nightly run's sync leaves this much of the invocation to the validation and auto-fix after it.
NIGHTLY_AFTER_SYNC_SECONDS = 120.0

app = new_resolver()


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    dryRun: bool = Field(default=False, description="compute the plan and write nothing")
    force: bool = Field(default=False, description="apply even when the safety rules would refuse")


class SyncStarted(BaseModel):
    runId: str
    status: str


def sync_now(
    container: Container,
    trigger: Trigger,
    *,
    dry_run: bool,
    force: bool,
    run: Run | None = None,
    lock_wait_seconds: float = 0.0,
    remaining: Callable[[], float] | None = None,
) -> SyncOutcome:
    """Run one sync in this invocation with the container's adapters, and publish its counts."""
    scheduled = trigger is Trigger.SCHEDULE
    outcome = sync_catalog(
        container,
        trigger,
        dry_run=dry_run,
        force=force,
        run=run,
        lock_wait_seconds=lock_wait_seconds,
        record_skip=scheduled,
        remaining=remaining,
    )
    if not dry_run:
        add_counts("Sync", {k: v for k, v in outcome.run.counts.items() if k != "pages"})
        add_counts("Sync", {"failed": int(outcome.run.status in (RunStatus.FAILED, RunStatus.REFUSED))})
        add_count("SyncRunRecordNotSaved", int(not outcome.recorded))  # its alarm's metric
    return outcome


@app.post(
    "/api/admin/packages/sync",
    summary="Start a catalog sync",
    responses={
        200: {"description": "dry run: the plan, nothing written"},
        202: {"description": "started; follow it in sync-status"},
        409: {"description": "another sync is running (`sync_in_progress`, its `runId`)"},
    },
)
def start_sync(body: Annotated[SyncRequest | None, Body()] = None) -> Response[str]:
    request = body or SyncRequest()
    container = get_container()
    if request.dryRun:
        outcome = sync_now(container, Trigger.API, dry_run=True, force=request.force)
        return json_response(200, outcome.preview())

    started = container.start_sync_in_background(Trigger.API, force=request.force)
    if started.busy_with is not None:
        return error_response(
            409,
            SYNC_IN_PROGRESS,
            "a sync is already running; follow it in sync-status",
            runId=started.busy_with,
        )
    if started.run is None or started.failed is not None:
        run_id = started.run.run_id if started.run else None
        return error_response(
            503,
            "sync_not_started",
            "the sync could not be started; try again",
            headers={"Retry-After": str(SYNC_RETRY_AFTER_SECONDS)},
            runId=run_id,
        )
    return json_response(
        202, SyncStarted(runId=started.run.run_id, status=started.run.status.value).model_dump()
    )


def _is_schedule(event: dict[str, Any]) -> bool:
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


def _run_nightly(budget: Budget) -> dict[str, Any]:
    """The schedule: sync, then validate every mapping, then auto-fix (each its own run record)."""
    container = get_container()
    outcome = self_healing.nightly(
        container,
        lambda: (
            sync_now(
                container,
                Trigger.SCHEDULE,
                dry_run=False,
                force=False,
                lock_wait_seconds=NIGHTLY_LOCK_WAIT_SECONDS,
                remaining=budget.lambda_left(NIGHTLY_AFTER_SYNC_SECONDS),
            ).run
        ),
    )
    if outcome.validation is not None:
        self_healing.publish_validation(outcome.validation)
    self_healing.publish_nightly(outcome)
    return outcome.summary()


def _run_worker(event: dict[str, Any], budget: Budget) -> dict[str, Any]:
    container = get_container()
    run = container.runs.get(str(event.get("runId", "")))
    if run is None or run.status is not RunStatus.PENDING or not container.runs.claim(run):
        # Lambda may deliver an async event twice: a run is only ever worked once.
        get_logger().warning("sync task ignored", extra={"run_id": event.get("runId")})
        return {"runId": event.get("runId"), "status": "ignored"}
    outcome = sync_now(
        container,
        run.trigger,
        dry_run=False,
        force=bool(event.get("force")),
        run=run,
        remaining=budget.lambda_left(),
    )
    return outcome.run.summary()


@lambda_entrypoint(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if _is_schedule(event):
        return _run_nightly(Budget.start(context))
    if event.get("task") == WORKER_TASK:
        return _run_worker(event, Budget.start(context))
    return app.resolve(event, context)
