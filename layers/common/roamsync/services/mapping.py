"""Mapping validation and auto-fix: every shop row checked against the catalog, each verdict stored
on its row, safe repairs applied with their before-images on record, and the health of all mappings.

Validation reads the whole MyPackages table (a paged Scan: every row, by definition) and the catalog
once per distinct reseller_id (BatchGetItem); it writes a row only when its verdict changed, and
then only the validation attributes, so a no-op validation writes nothing but its run record and an
edit made meanwhile is never overwritten. A verdict is written only onto the content it was judged
on (conditional on the row's `updated_at` as read): a row edited meanwhile is read again and judged
again, up to VERDICT_ATTEMPTS times, then left for the next run. Auto-fix candidates come from
Queries on the catalog's country and region indexes, one per country and region per run.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from roamsync.domain.changes import RowChange
from roamsync.domain.equivalence import best_replacement_for, destinations_for
from roamsync.domain.errors import Conflict, StorageError
from roamsync.domain.mapping import (
    FIXABLE,
    InvalidReason,
    MappingHealth,
    apply_fix,
    check_mapping,
    choose_fix,
    health_of,
    keeps_margin,
    original_for,
    with_verdict,
)
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.packages import Package
from roamsync.domain.runs import Run, RunKind, RunStatus, Trigger
from roamsync.observability import get_logger
from roamsync.services.catalog import candidate_packages, destination_of
from roamsync.services.ports import CatalogReader, Clock, MyPackageStore, RunStore
from roamsync.services.recording import finish_run


@dataclass(frozen=True)
class RowCheck:
    """One row as validation left it, its catalog package (None when absent) and its verdict."""

    row: MyPackage
    package: Package | None
    reason: InvalidReason | None


@dataclass(frozen=True)
class Fix:
    """An auto-fix of one row: the row before and after, and the package it now maps to.
    `applied` is False when the row changed after validation read it and the fix was not written."""

    before: MyPackage
    after: MyPackage
    replacement: Package
    applied: bool = True

    def change(self) -> RowChange:
        return RowChange(
            id=self.before.id,
            before=self.before,
            after=self.after,
            applied=self.applied,
            note={"fromResellerId": self.before.reseller_id, "toResellerId": self.replacement.reseller_id},
        )


@dataclass
class AutofixOutcome:
    run: Run
    fixes: list[Fix] = field(default_factory=list)

    @property
    def applied(self) -> list[Fix]:
        return [f for f in self.fixes if f.applied]

    def changes_json(self) -> list[dict[str, Any]]:
        return [f.change().to_json() for f in self.fixes]


@dataclass
class ValidationOutcome:
    run: Run
    checks: list[RowCheck]
    autofix: Run | None = None

    @property
    def health(self) -> MappingHealth:
        return health_of(check.row for check in self.checks)

    def body(self) -> dict[str, Any]:
        """The run record as the API and the CLI show it, with the health and the auto-fix run."""
        return {
            **self.run.summary(),
            "health": self.health.to_json(),
            "autofix": self.autofix.summary() if self.autofix else None,
        }


def _ms(since: float) -> int:
    return int((time.perf_counter() - since) * 1000)


# How many times one row's verdict is judged and written before a row that keeps changing under
# validation is left for the next run (and counted in `conflicts`).
VERDICT_ATTEMPTS = 3


@dataclass(frozen=True)
class _Verdict:
    """How one row's verdict ended: its check (None when the row is gone or kept changing), whether
    a write stored it, and whether the row was left unjudged because it kept changing."""

    check: RowCheck | None
    written: bool = False
    conflict: bool = False


class _CatalogLookup:
    """The run's catalog packages by reseller_id: one BatchGetItem up front, a GetItem for a
    reseller_id a row was remapped to while validation ran (None remembered too)."""

    def __init__(self, packages: CatalogReader, reseller_ids: Sequence[str]) -> None:
        self._packages = packages
        found = packages.get_many(reseller_ids)
        self._known: dict[str, Package | None] = {rid: found.get(rid) for rid in reseller_ids}

    def __call__(self, reseller_id: str | None) -> Package | None:
        if not reseller_id:
            return None
        if reseller_id not in self._known:
            self._known[reseller_id] = self._packages.get(reseller_id)
        return self._known[reseller_id]


def _settle_verdict(
    row: MyPackage,
    catalog: _CatalogLookup,
    my_packages: MyPackageStore,
    clock: Clock,
    now: datetime,
    *,
    dry_run: bool,
) -> _Verdict:
    """Judge `row` (stamped `now`) and store its verdict if it changed, only while the row is as it
    was read: a row edited meanwhile is read again and judged again (VERDICT_ATTEMPTS in all, each
    later one stamped when it is made); a row deleted meanwhile is no longer a row to report on."""
    for attempt in range(VERDICT_ATTEMPTS):
        package = catalog(row.reseller_id)
        reason = check_mapping(row, package)
        judged = with_verdict(row, reason, now if attempt == 0 else clock())
        if judged is None or dry_run:
            return _Verdict(RowCheck(judged or row, package, reason))
        try:
            my_packages.set_validation(judged, expected_updated_at=row.updated_at)
        except Conflict:
            fresh = my_packages.get(row.id)
            if fresh is None:
                return _Verdict(None)
            row = fresh
            continue
        return _Verdict(RowCheck(judged, package, reason), written=True)
    return _Verdict(None, conflict=True)


def _record_counts(outcome: ValidationOutcome, *, fixed: int) -> None:
    health = outcome.health
    reasons = Counter(c.reason.value for c in outcome.checks if c.reason is not None)
    outcome.run.counts.update(
        {"checked": health.total, "valid": health.valid, "invalid": health.invalid, "fixed": fixed}
    )
    outcome.run.details["health"] = health.to_json()
    outcome.run.details["reasons"] = dict(sorted(reasons.items()))


def validate_mappings(
    *,
    my_packages: MyPackageStore,
    packages: CatalogReader,
    runs: RunStore,
    clock: Clock,
    trigger: Trigger,
    dry_run: bool = False,
) -> ValidationOutcome:
    """Check every row and store each changed verdict; record a validation run.

    A verdict is only ever stored on the content it was judged on (see _settle_verdict). Counts:
    `checked` (rows judged: every row but those deleted meanwhile and the `conflicts`), `valid`,
    `invalid` (the verdicts of the checked rows, as stored), `fixed` (0 here; see
    validate_and_fix), `written` (rows whose verdict changed) and `conflicts` (rows that changed
    under every one of VERDICT_ATTEMPTS judgements: no verdict written, left for the next run). A
    dry run writes nothing, not even its run record. Raises StorageError after recording the run
    as failed.
    """
    run = Run(
        kind=RunKind.VALIDATION,
        trigger=trigger,
        dry_run=dry_run,
        started_at=clock(),
        status=RunStatus.RUNNING,
    )
    if not dry_run:
        runs.save(run)
    started = time.perf_counter()
    try:
        rows = list(my_packages.all())
        catalog = _CatalogLookup(packages, sorted({row.reseller_id for row in rows if row.reseller_id}))
        now = clock()
        checks: list[RowCheck] = []
        written = conflicts = 0
        for row in rows:
            verdict = _settle_verdict(row, catalog, my_packages, clock, now, dry_run=dry_run)
            written += verdict.written
            conflicts += verdict.conflict
            if verdict.check is not None:
                checks.append(verdict.check)
    except StorageError as exc:
        finish_run(run, runs, clock, RunStatus.FAILED, reason="storage_error", error=str(exc))
        raise
    run.timings_ms["validate"] = _ms(started)
    outcome = ValidationOutcome(run=run, checks=checks)
    _record_counts(outcome, fixed=0)
    run.counts["written"] = written
    run.counts["conflicts"] = conflicts
    if conflicts:
        get_logger().warning(
            "rows kept changing under validation; left for the next run",
            extra={"run_id": run.run_id, "conflicts": conflicts},
        )
    finish_run(run, runs, clock, RunStatus.DRY_RUN if dry_run else RunStatus.SUCCEEDED)
    get_logger().info(
        "mapping validation finished",
        extra={"run_id": run.run_id, "counts": run.counts, "health_score": outcome.health.health_score},
    )
    return outcome


class CandidateFinder:
    """The catalog for one run's replacement searches: each country and region is queried once."""

    def __init__(self, packages: CatalogReader) -> None:
        self._packages = packages
        self._by_country: dict[str, list[Package]] = {}
        self._spanning: dict[str, list[Package]] = {}

    def get(self, reseller_id: str) -> Package | None:
        return self._packages.get(reseller_id)

    def by_country(self, country_code: str) -> Iterator[Package]:
        key = country_code.upper()
        if key not in self._by_country:
            self._by_country[key] = list(self._packages.by_country(key))
        return iter(self._by_country[key])

    def spanning(self, region: str) -> Iterator[Package]:
        if region not in self._spanning:
            self._spanning[region] = list(self._packages.spanning(region))
        return iter(self._spanning[region])


def _search(
    row: MyPackage, package: Package | None, finder: CandidateFinder
) -> tuple[Package, list[Package], tuple[str, ...]] | None:
    """The original a replacement is held to, the candidates and the destinations; None when the row
    does not say enough to hold anything to it."""
    original = original_for(row, package)
    if original is None:
        return None
    # A row with no single country holds the replacement to every country the original covers.
    destinations = destinations_for(original, destination_of(package, row))
    if not destinations:
        return None
    return original, candidate_packages(original, destinations[0], finder), destinations


def suggest_replacement(
    row: MyPackage, package: Package | None, finder: CandidateFinder, *, max_price_increase: Decimal | float
) -> tuple[Package, bool] | None:
    """The best equivalent-or-better package for an invalid row, and whether it keeps the sale
    margin (so an auto-fix would apply it); None when there is none: a downgrade is never
    suggested."""
    search = _search(row, package, finder)
    if search is None:
        return None
    original, candidates, destinations = search
    best = best_replacement_for(original, candidates, destinations, max_price_increase=max_price_increase)
    if best is None:
        return None
    return best, keeps_margin(row, original, best)


def autofix_mappings(
    checks: Sequence[RowCheck],
    *,
    my_packages: MyPackageStore,
    packages: CatalogReader,
    runs: RunStore,
    clock: Clock,
    trigger: Trigger,
    max_price_increase: Decimal | float,
    dry_run: bool = False,
) -> AutofixOutcome:
    """Remap the invalid rows that have an equivalent-or-better replacement keeping the margin.

    The run's record, with every row's before- and after-image, is saved before the first row
    changes. Each row is written only if unchanged since validation read it (else the change is
    kept on record as not applied and counted in `conflicts`). Counts: `considered` (invalid rows
    of a fixable kind), `fixed`, `conflicts`. Raises StorageError after recording the run as failed.
    """
    run = Run(
        kind=RunKind.AUTOFIX, trigger=trigger, dry_run=dry_run, started_at=clock(), status=RunStatus.RUNNING
    )
    now = clock()
    finder = CandidateFinder(packages)
    fixes: list[Fix] = []
    considered = 0
    for check in checks:
        if check.reason not in FIXABLE:
            continue
        considered += 1
        search = _search(check.row, check.package, finder)
        if search is None:
            continue
        original, candidates, destinations = search
        replacement = choose_fix(
            check.row, original, candidates, destinations, max_price_increase=max_price_increase
        )
        if replacement is None:
            continue
        fixes.append(Fix(check.row, apply_fix(check.row, replacement, now), replacement))
    outcome = AutofixOutcome(run=run, fixes=fixes)
    run.counts.update({"considered": considered, "fixed": 0, "conflicts": 0})
    run.details["changes"] = outcome.changes_json()
    if dry_run:
        run.counts["fixed"] = len(fixes)
        finish_run(run, runs, clock, RunStatus.DRY_RUN)
        return outcome

    runs.save(run)  # the before-images are on record before the first row changes
    try:
        for i, fix in enumerate(fixes):
            try:
                my_packages.replace(fix.after, expected_updated_at=fix.before.updated_at)
            except Conflict:
                fixes[i] = replace(fix, applied=False)
                run.counts["conflicts"] += 1
                continue
            run.counts["fixed"] += 1
    except StorageError as exc:
        # Changes not yet attempted stay on record as planned: undo finds those rows as they were.
        run.details["changes"] = outcome.changes_json()
        finish_run(run, runs, clock, RunStatus.FAILED, reason="storage_error", error=str(exc))
        raise
    run.details["changes"] = outcome.changes_json()
    finish_run(run, runs, clock, RunStatus.SUCCEEDED)
    get_logger().info("auto-fix finished", extra={"run_id": run.run_id, "counts": run.counts})
    return outcome


def skipped_autofix(
    *, runs: RunStore, clock: Clock, trigger: Trigger, reason: str, detail: str | None
) -> Run:
    """Record an auto-fix that was not attempted, and why."""
    now = clock()
    run = Run(
        kind=RunKind.AUTOFIX,
        trigger=trigger,
        status=RunStatus.SKIPPED,
        started_at=now,
        finished_at=now,
        counts={"considered": 0, "fixed": 0, "conflicts": 0},
        reason=reason,
        error=detail,
    )
    runs.save(run)
    get_logger().warning("auto-fix skipped", extra={"run_id": run.run_id, "reason": reason, "detail": detail})
    return run


def fix_after_validation(
    outcome: ValidationOutcome,
    *,
    my_packages: MyPackageStore,
    packages: CatalogReader,
    runs: RunStore,
    clock: Clock,
    max_price_increase: Decimal | float,
    skip_fix: tuple[str, str | None] | None = None,
) -> ValidationOutcome:
    """Auto-fix what `outcome`'s validation found, as a run of its own (same trigger, same dry-run
    flag), or with `skip_fix` = (reason, detail) record the auto-fix as skipped instead.

    The validation run is re-saved with counts that describe the rows as they end up: `valid` and
    `invalid` after the fixes, `fixed` the rows repaired, and `details.autofixRunId` names the
    auto-fix run (the one to undo). Raises StorageError as autofix_mappings does.
    """
    run = outcome.run
    if skip_fix is not None:
        outcome.autofix = skipped_autofix(
            runs=runs, clock=clock, trigger=run.trigger, reason=skip_fix[0], detail=skip_fix[1]
        )
    else:
        fixed = autofix_mappings(
            outcome.checks,
            my_packages=my_packages,
            packages=packages,
            runs=runs,
            clock=clock,
            trigger=run.trigger,
            max_price_increase=max_price_increase,
            dry_run=run.dry_run,
        )
        outcome.autofix = fixed.run
        applied = {f.before.id: f for f in fixed.applied}
        outcome.checks = [
            RowCheck(applied[c.row.id].after, applied[c.row.id].replacement, None)
            if c.row.id in applied
            else c
            for c in outcome.checks
        ]
        _record_counts(outcome, fixed=len(applied))
    run.details["autofixRunId"] = outcome.autofix.run_id
    if not run.dry_run:
        runs.save(run)
    return outcome


def validate_and_fix(
    *,
    my_packages: MyPackageStore,
    packages: CatalogReader,
    runs: RunStore,
    clock: Clock,
    trigger: Trigger,
    max_price_increase: Decimal | float,
    fix: bool = False,
    dry_run: bool = False,
) -> ValidationOutcome:
    """Validate every row and, with `fix`, auto-fix what can be fixed (fix_after_validation).
    What `POST /api/admin/packages/validate` and `roamsync validate` run."""
    outcome = validate_mappings(
        my_packages=my_packages, packages=packages, runs=runs, clock=clock, trigger=trigger, dry_run=dry_run
    )
    if not fix:
        return outcome
    return fix_after_validation(
        outcome,
        my_packages=my_packages,
        packages=packages,
        runs=runs,
        clock=clock,
        max_price_increase=max_price_increase,
    )


def mapping_health(*, my_packages: MyPackageStore, runs: RunStore) -> dict[str, Any]:
    """Health over every row as its stored verdicts say, and when validation last finished."""
    health = health_of(my_packages.all())
    last = next((r for r in runs.latest(RunKind.VALIDATION, limit=10) if r.finished_at is not None), None)
    return {
        **health.to_json(),
        "lastValidation": last.finished_at.isoformat() if last and last.finished_at else None,
    }


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


def suggestion_json(package: Package, keeps: bool) -> dict[str, Any]:
    return {
        "packageId": package.reseller_id,
        "name": package.name,
        "price": _money(package.price),
        "currency": package.currency,
        "dataMb": package.data_mb,
        "unlimited": package.unlimited,
        "validityDays": package.validity_days,
        "keepsMargin": keeps,
    }


def invalid_mappings_page(
    *,
    my_packages: MyPackageStore,
    packages: CatalogReader,
    limit: int,
    cursor: str | None,
    max_price_increase: Decimal | float,
) -> dict[str, Any]:
    """One page of the rows last validated invalid, each with its equivalent-or-better suggestion
    (or null). Raises BadRequest for a cursor this API did not give out."""
    rows, next_cursor = my_packages.page(limit=limit, cursor=cursor, validation_status="invalid")
    catalog = packages.get_many(row.reseller_id for row in rows if row.reseller_id)
    finder = CandidateFinder(packages)
    items = []
    for row in rows:
        package = catalog.get(row.reseller_id) if row.reseller_id else None
        suggestion = suggest_replacement(row, package, finder, max_price_increase=max_price_increase)
        items.append(
            {
                "id": row.id,
                "name": row.name,
                "resellerId": row.reseller_id,
                "countryCode": row.country_code,
                "reason": row.validation_reason,
                "suggestedReplacement": suggestion_json(*suggestion) if suggestion else None,
            }
        )
    return {"items": items, "nextCursor": next_cursor}


def mapping_metrics(outcome: ValidationOutcome) -> dict[str, float]:
    """What an operator alarms on after a validation: health score, invalid rows, fixes applied."""
    metrics: dict[str, float] = {
        "InvalidMappings": outcome.run.counts.get("invalid", 0),
        "FixesApplied": outcome.run.counts.get("fixed", 0),
    }
    score = outcome.health.health_score
    if score is not None:
        metrics["HealthScore"] = score
    return metrics
