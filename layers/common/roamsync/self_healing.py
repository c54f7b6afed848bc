"""The self-healing, health and status use cases wired to a Container: what the admin handler, the
nightly schedule branch and the CLI call, so all three run the same services with the same adapters
and settings.

Metrics are published by the Lambda handlers only (`publish_*`), where Powertools flushes them at
the end of the invocation; the CLI does not publish.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from roamsync.domain.runs import Run, Trigger

if TYPE_CHECKING:
    from roamsync.container import Container
    from roamsync.services.dedupe import DedupeOutcome
    from roamsync.services.mapping import ValidationOutcome
    from roamsync.services.nightly import NightlyOutcome
    from roamsync.services.undo import UndoOutcome


def validate(container: Container, trigger: Trigger, *, fix: bool, dry_run: bool) -> ValidationOutcome:
    from roamsync.services.mapping import validate_and_fix

    return validate_and_fix(
        my_packages=container.my_packages,
        packages=container.packages,
        runs=container.runs,
        clock=container.clock,
        trigger=trigger,
        max_price_increase=container.settings.fallback_max_price_increase,
        fix=fix,
        dry_run=dry_run,
    )


def invalid_page(container: Container, *, limit: int, cursor: str | None) -> dict[str, Any]:
    from roamsync.services.mapping import invalid_mappings_page

    return invalid_mappings_page(
        my_packages=container.my_packages,
        packages=container.packages,
        limit=limit,
        cursor=cursor,
        max_price_increase=container.settings.fallback_max_price_increase,
    )


def health(container: Container) -> dict[str, Any]:
    """Health over every shop row, the last validation's end and the catalog's active / inactive
    counts: what GET /api/admin/packages/health and `roamsync health` answer."""
    from roamsync.services.status import health_report

    return health_report(my_packages=container.my_packages, runs=container.runs, catalog=container.packages)


def schedule_state(container: Container) -> dict[str, Any]:
    """The nightly rule's `{expression, enabled}` as EventBridge has it. A rule that cannot be read
    (none configured, not found, EventBridge failing) is `{expression: null, enabled: null, error}`:
    the status page still answers, and says why it does not know."""
    from roamsync.domain.errors import RoamsyncError

    try:
        state = container.schedule.status()
    except RoamsyncError as exc:
        return {
            "ruleName": container.settings.schedule_rule_name,
            "expression": None,
            "enabled": None,
            "error": str(exc),
        }
    return {**state.to_json(), "error": None}


def sync_status(container: Container) -> dict[str, Any]:
    """What the last sync and validation runs did, the schedule, Roamify's reachability (cached for
    a short while) and whether a sync is needed: GET /api/admin/packages/sync-status."""
    from roamsync.services.status import sync_status as status_of_runs

    return status_of_runs(
        runs=container.runs,
        clock=container.clock,
        schedule=schedule_state(container),
        roamify_api_healthy=container.roamify_reachable(),
    )


def dedupe(container: Container, trigger: Trigger, *, dry_run: bool) -> DedupeOutcome:
    from roamsync.services.dedupe import deduplicate

    return deduplicate(
        my_packages=container.my_packages,
        packages=container.packages,
        runs=container.runs,
        clock=container.clock,
        trigger=trigger,
        dry_run=dry_run,
    )


def undo(container: Container, run_id: str, trigger: Trigger) -> UndoOutcome:
    from roamsync.services.undo import undo_run

    return undo_run(
        run_id, my_packages=container.my_packages, runs=container.runs, clock=container.clock, trigger=trigger
    )


def nightly(container: Container, sync: Callable[[], Run]) -> NightlyOutcome:
    """Sync (through `sync`, which the handler wraps with its metrics), validate, auto-fix."""
    from roamsync.services.nightly import run_nightly

    return run_nightly(
        sync=sync,
        my_packages=container.my_packages,
        packages=container.packages,
        runs=container.runs,
        clock=container.clock,
        max_price_increase=container.settings.fallback_max_price_increase,
    )


def publish_validation(outcome: ValidationOutcome) -> None:
    """HealthScore (percent), InvalidMappings and FixesApplied, for a validation that wrote."""
    from roamsync.observability import add_count, add_percent
    from roamsync.services.mapping import mapping_metrics

    if outcome.run.dry_run:
        return
    for name, value in mapping_metrics(outcome).items():
        if name == "HealthScore":
            add_percent(name, value)
        else:
            add_count(name, value)


def publish_health(body: dict[str, Any]) -> None:
    """HealthScore (percent) whenever health is computed, so the alarm sees the figure the operator sees."""
    from roamsync.observability import add_percent

    if body.get("healthScore") is not None:
        add_percent("HealthScore", float(body["healthScore"]))


def publish_nightly(outcome: NightlyOutcome) -> None:
    """NightlyCompleted (1 per nightly run: the heartbeat the "not run for 26 hours" alarm watches)
    and NightlyFailed (1 when the sync did not apply in full, validation failed or auto-fix failed)."""
    from roamsync.observability import add_count

    add_count("NightlyCompleted")
    add_count("NightlyFailed", int(outcome.failed))


def publish_dedupe(outcome: DedupeOutcome) -> None:
    from roamsync.observability import add_count

    if not outcome.run.dry_run:
        add_count("DuplicatesRemoved", len(outcome.removed))


def publish_undo(outcome: UndoOutcome) -> None:
    from roamsync.observability import add_count

    add_count("UndoRestored", len(outcome.restored))
    add_count("UndoConflicts", len(outcome.conflicts))
