"""Self-healing: `roamsync validate`, `dedupe`, `undo` and `health`."""

from __future__ import annotations

import sys
from typing import Any

import click

from roamsync.container import get_container
from roamsync.domain.runs import Trigger
from roamsync_dev.cli.output import EXIT_PARTIAL, _describe_run, _domain_errors, _emit
from roamsync_dev.cli.root import main


def _describe_health(health: dict[str, Any]) -> str:
    score = health["healthScore"]
    return (
        f"health {score if score is not None else 'n/a'}%: {health['validPackages']} valid, "
        f"{health['invalidPackages']} invalid, {health['unvalidatedPackages']} never validated "
        f"of {health['totalPackages']} packages"
    )


@main.command()
@click.option("--fix", is_flag=True, help="Auto-fix rows with an equivalent-or-better replacement.")
@click.option("--dry-run", is_flag=True, help="Check and plan the fixes; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def validate(fix: bool, dry_run: bool, as_json: bool) -> None:
    """Validate every shop package's mapping against the catalog (and auto-fix with --fix).

    The same as POST /api/admin/packages/validate. An auto-fix only remaps a row to a package that
    is equivalent or better and keeps the sale margin; undo it with `roamsync undo RUN_ID`.
    """
    from roamsync import self_healing

    outcome = self_healing.validate(get_container(), Trigger.CLI, fix=fix, dry_run=dry_run)
    body = outcome.body()
    text = _describe_run(body) + "\n  " + _describe_health(body["health"])
    if body["autofix"]:
        text += "\n" + _describe_run(body["autofix"])
    _emit(body, as_json, text)


@main.command()
@click.option("--dry-run", is_flag=True, help="Report what would be removed; remove nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def dedupe(dry_run: bool, as_json: bool) -> None:
    """Remove duplicate shop packages (same reseller id, or the same offer), keeping the most
    complete, then most recent. Removed rows are archived in the run: `roamsync undo RUN_ID`."""
    from roamsync import self_healing

    body = self_healing.dedupe(get_container(), Trigger.CLI, dry_run=dry_run).body()
    details = body["details"]
    text = (
        f"dedupe run {body['runId']}{' (dry run)' if body['dryRun'] else ''}: "
        f"{'would remove' if body['dryRun'] else 'removed'} {body['removedCount']} "
        f"({details['resellerIdDuplicates']} reseller-id duplicates, "
        f"{details['combinationDuplicates']} combination duplicates)"
    )
    _emit(body, as_json, text)


@main.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def undo(run_id: str, as_json: bool) -> None:
    """Restore what auto-fix or dedupe run RUN_ID changed. A row edited since is reported as a
    conflict, never overwritten. Exit status: 0 all restored, 3 some conflicts, 1 refused."""
    from roamsync import self_healing

    with _domain_errors():
        outcome = self_healing.undo(get_container(), run_id, Trigger.CLI)
    body = outcome.body()
    text = (
        f"undo run {body['runId']} of {body['undoneRunId']}: {body['restoredCount']} restored, "
        f"{body['alreadyRestoredCount']} already restored, {len(body['conflicts'])} conflicts"
    )
    text += "".join(f"\n  conflict: {c['id']} ({c['reason']})" for c in body["conflicts"])
    _emit(body, as_json, text)
    sys.exit(EXIT_PARTIAL if body["conflicts"] else 0)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def health(as_json: bool) -> None:
    """Mapping health over every shop package, as the last validation left them."""
    from roamsync import self_healing

    body = self_healing.health(get_container())
    catalog = body["catalog"]
    text = (
        _describe_health(body)
        + (f"\n  {body['reason']}" if body["reason"] else "")
        + f"\n  last validation: {body['lastValidation'] or 'never'}"
        + f"\n  catalog: {catalog['active']} active, {catalog['inactive']} inactive"
    )
    _emit(body, as_json, text)
