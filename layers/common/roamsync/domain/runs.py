"""Run records: one per sync, validation, auto-fix or dedupe run."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RunKind(StrEnum):
    SYNC = "sync"
    VALIDATION = "validation"
    AUTOFIX = "autofix"
    DEDUPE = "dedupe"
    UNDO = "undo"  # puts back what an auto-fix or dedupe run changed


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    API = "api"
    CLI = "cli"


class RunStatus(StrEnum):
    PENDING = "pending"  # accepted by the API, waiting for its worker invocation
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DRY_RUN = "dry_run"  # computed the plan, wrote nothing
    REFUSED = "refused"  # the safety rules stopped it; nothing changed
    PARTIAL = "partial"  # forced over an incomplete snapshot: changes applied, no deactivations
    SKIPPED = "skipped"  # not attempted (an auto-fix after a sync that did not apply); `reason` says why
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self not in (RunStatus.PENDING, RunStatus.RUNNING)


# Lambda ends every invocation within 15 minutes (the sync function's timeout is 900 s, the others' far
# less), so a run still pending or running a minute past its last save has no worker left: a write of
# its record failed (DynamoDB throttled past the retries) or its invocation died. Readers then show it
# as failed with reason ABANDONED instead of running forever.
RUN_LEASE = timedelta(minutes=16)
ABANDONED = "abandoned"


def new_run_id() -> str:
    return str(uuid.uuid4())


class Run(BaseModel):
    """What a run did: counts, timings in milliseconds, and why it stopped when it did not succeed."""

    model_config = ConfigDict(validate_assignment=True)

    run_id: str = Field(default_factory=new_run_id)
    kind: RunKind
    trigger: Trigger
    status: RunStatus = RunStatus.PENDING
    dry_run: bool = False
    forced: bool = False
    started_at: datetime
    finished_at: datetime | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    # What a sync planned to write, by kind, beside `counts` (what it wrote): they differ when the
    # run was refused, failed before writing or was stopped part-way, and for a dry run.
    planned: dict[str, int] = Field(default_factory=dict)
    timings_ms: dict[str, int] = Field(default_factory=dict)
    reason: str | None = None  # a machine-readable refusal or failure code
    error: str | None = None  # what an operator reads
    details: dict[str, Any] = Field(default_factory=dict)
    lease_until: datetime | None = None  # while pending or running: when it counts as abandoned

    def renew_lease(self, now: datetime) -> None:
        """Called on every save: an unfinished run gets RUN_LEASE more from `now`."""
        self.lease_until = None if self.status.finished else now + RUN_LEASE

    def is_abandoned(self, now: datetime) -> bool:
        """Pending or running past its lease (a record without one: RUN_LEASE after its start)."""
        if self.status.finished:
            return False
        return now > (self.lease_until or self.started_at + RUN_LEASE)

    def settle_abandoned(self) -> None:
        """Record that nobody will finish this run: failed, reason `abandoned`, ended at its lease."""
        lease = self.lease_until or self.started_at + RUN_LEASE
        was = self.status.value
        self.status, self.reason = RunStatus.FAILED, ABANDONED
        self.finished_at, self.lease_until = lease, None
        self.error = (
            f"the run was still {was} when its lease ran out at {lease.isoformat()}: its worker stopped "
            "before recording an end (a write of this record failed, or the invocation ended). What it "
            "did is in the function's logs under this run_id; run it again."
        )

    @property
    def duration_ms(self) -> int | None:
        if self.finished_at is None:
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)

    def summary(self) -> dict[str, Any]:
        """The camelCase shape the API and CLI show."""
        return {
            "runId": self.run_id,
            "kind": self.kind.value,
            "status": self.status.value,
            "trigger": self.trigger.value,
            "dryRun": self.dry_run,
            "forced": self.forced,
            "startedAt": self.started_at.isoformat(),
            "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
            "durationMs": self.duration_ms,
            "counts": dict(self.counts),
            "planned": dict(self.planned),
            "timingsMs": dict(self.timings_ms),
            "reason": self.reason,
            "error": self.error,
        }
