"""The nightly run: catalog sync, then mapping validation, then auto-fix, each its own run record.

Validation always runs: when the sync was refused or failed the Packages table still holds the last
good catalog (a sync that does not apply writes nothing), and that is what the rows are checked
against. Auto-fix only runs after a sync that applied: remapping rows against a catalog the sync
could not confirm is exactly the silent repair this system exists to prevent, so it is recorded as
skipped, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from roamsync.domain.errors import RoamsyncError
from roamsync.domain.runs import Run, RunStatus, Trigger
from roamsync.observability import get_logger
from roamsync.services.mapping import (
    ValidationOutcome,
    fix_after_validation,
    skipped_autofix,
    validate_mappings,
)
from roamsync.services.ports import CatalogReader, Clock, MyPackageStore, RunStore

SYNC_NOT_APPLIED = "sync_not_applied"
VALIDATION_FAILED = "validation_failed"


@dataclass
class NightlyOutcome:
    sync: Run | None
    validation: ValidationOutcome | None
    autofix: Run | None

    @property
    def failed(self) -> bool:
        """True when any stage did not do its job: the sync did not apply in full (failed, refused,
        partial or crashed), validation failed, or auto-fix failed. A skipped auto-fix follows from
        the sync and is not counted twice."""
        sync_applied = self.sync is not None and self.sync.status is RunStatus.SUCCEEDED
        autofix_failed = self.autofix is not None and self.autofix.status is RunStatus.FAILED
        return not sync_applied or self.validation is None or autofix_failed

    def summary(self) -> dict[str, Any]:
        """The sync's summary (what the schedule branch always answered), plus the other two runs."""
        body: dict[str, Any] = self.sync.summary() if self.sync else {"status": RunStatus.FAILED.value}
        body["validation"] = self.validation.body() if self.validation else None
        body["autofix"] = self.autofix.summary() if self.autofix else None
        return body


def run_nightly(
    *,
    sync: Callable[[], Run],
    my_packages: MyPackageStore,
    packages: CatalogReader,
    runs: RunStore,
    clock: Clock,
    max_price_increase: Decimal | float,
) -> NightlyOutcome:
    """Sync, validate, auto-fix (trigger "schedule"). Never raises: every stage records its own
    outcome, and a stage that fails does not stop the ones that still make sense."""
    log = get_logger()
    trigger = Trigger.SCHEDULE
    sync_run: Run | None = None
    try:
        sync_run = sync()
    except Exception:
        log.exception("nightly sync crashed")
    applied = sync_run is not None and sync_run.status is RunStatus.SUCCEEDED
    skip: tuple[str, str | None] | None = None
    if not applied:
        detail = (
            f"the catalog sync ended {sync_run.status.value}: {sync_run.reason}"
            if sync_run is not None
            else "the catalog sync crashed"
        )
        skip = (SYNC_NOT_APPLIED, detail)

    try:
        validation = validate_mappings(
            my_packages=my_packages, packages=packages, runs=runs, clock=clock, trigger=trigger
        )
    except RoamsyncError as exc:
        log.exception("nightly validation failed")
        autofix = skipped_autofix(
            runs=runs, clock=clock, trigger=trigger, reason=VALIDATION_FAILED, detail=str(exc)
        )
        return NightlyOutcome(sync=sync_run, validation=None, autofix=autofix)
    try:
        fix_after_validation(
            validation,
            my_packages=my_packages,
            packages=packages,
            runs=runs,
            clock=clock,
            max_price_increase=max_price_increase,
            skip_fix=skip,
        )
    except RoamsyncError:
        # autofix_mappings recorded its run as failed; the rows it did not reach are unchanged.
        log.exception("nightly auto-fix failed")
    return NightlyOutcome(sync=sync_run, validation=validation, autofix=validation.autofix)
