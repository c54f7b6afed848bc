"""Run records: one per sync, validation, auto-fix or dedupe run."""

from __future__ import annotations

import uuid
from datetime import datetime
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
    timings_ms: dict[str, int] = Field(default_factory=dict)
    reason: str | None = None  # a machine-readable refusal or failure code
    error: str | None = None  # what an operator reads
    details: dict[str, Any] = Field(default_factory=dict)

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
            "timingsMs": dict(self.timings_ms),
            "reason": self.reason,
            "error": self.error,
        }
