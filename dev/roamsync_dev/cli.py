"""`roamsync`: the operator's command line. Runs the same service code as the Lambda handlers,
against the local stack or real AWS (whatever the environment's settings point at)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from roamsync.container import Container, get_container, set_container
from roamsync.domain.runs import Run, RunKind, RunStatus, Trigger
from roamsync.observability import log_to
from roamsync.settings import reset_settings

# Exit codes a script can branch on.
EXIT_FAILED = 1
EXIT_REFUSED = 2
EXIT_PARTIAL = 3

STATE_FILE = Path(".local") / "stack.json"


def _emit(payload: Any, as_json: bool, text: str) -> None:
    click.echo(json.dumps(payload, indent=2, default=str) if as_json else text)


def _exit_code(run: Run) -> int:
    return {
        RunStatus.FAILED: EXIT_FAILED,
        RunStatus.REFUSED: EXIT_REFUSED,
        RunStatus.PARTIAL: EXIT_PARTIAL,
    }.get(run.status, 0)


def _describe_run(summary: dict[str, Any]) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in summary["counts"].items())
    lines = [
        f"{summary['kind']} run {summary['runId']}: {summary['status']}"
        + (f" ({summary['durationMs']} ms)" if summary.get("durationMs") is not None else ""),
        f"  trigger {summary['trigger']}, started {summary['startedAt']}",
    ]
    if counts:
        lines.append(f"  {counts}")
    planned = summary.get("planned") or {}
    if planned and planned != {k: summary["counts"].get(k) for k in planned}:
        lines.append("  planned: " + ", ".join(f"{k} {v}" for k, v in planned.items()))
    if summary.get("reason") or summary.get("error"):
        lines.append(f"  reason: {summary.get('reason')}: {summary.get('error') or ''}".rstrip(": "))
    return "\n".join(lines)


class _TerminalProgress:
    """Progress on stderr when it is a terminal; silent otherwise (logs, pipes, --json)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        text = f"{stage}: {done}" + (f"/{total}" if total else " packages")
        click.echo(f"\r{text:<40}", nl=False, err=True)
        if total is not None and done >= total:
            click.echo("", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--local",
    "use_local",
    is_flag=True,
    help=f"Use the running local stack's endpoints and tokens (read from {STATE_FILE}).",
)
def main(use_local: bool) -> None:
    """roamsync: keep the shop's package catalog in step with Roamify.

    Settings come from the environment (DESIGN §5): table names, ROAMIFY_BASE_URL,
    ROAMIFY_API_KEY, AWS_ENDPOINT_URL_DYNAMODB and the rest. Logs go to stderr; stdout carries
    only the command's output.
    """
    log_to(sys.stderr)
    if use_local:
        if not STATE_FILE.exists():
            raise click.ClickException(f"no local stack state at {STATE_FILE}: start one with `make run`")
        os.environ.update(json.loads(STATE_FILE.read_text())["env"])
        reset_settings()
        set_container(None)


RECORD_NOT_SAVED_EXIT = 4
SYNC_IN_PROGRESS_EXIT = 5


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


@main.group()
def cache() -> None:
    """The checkout validation cache (ValidationCache table)."""


@cache.command("clear")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def cache_clear(as_json: bool) -> None:
    """Drop every cached checkout validation.

    The same as DELETE /api/admin/packages/validation-cache. One write whatever the table holds:
    the cache's generation goes up by one and older entries are never read again. Running Lambda
    containers notice within a few seconds.
    """
    generation = get_container().validation_cache.clear()
    _emit(
        {"status": "success", "generation": generation},
        as_json,
        f"validation cache cleared (generation {generation})",
    )


@contextlib.contextmanager
def _domain_errors() -> Any:
    """A refused request (unknown id, bad input, lost race) is a one-line error and exit status 1."""
    from roamsync.domain.errors import BadRequest, Conflict, NotFound

    try:
        yield
    except (BadRequest, Conflict, NotFound) as exc:
        raise click.ClickException(str(exc)) from None


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


@main.group()
def schedule() -> None:
    """The nightly run's EventBridge rule (SCHEDULE_RULE_NAME)."""


def _schedule(action: str, as_json: bool) -> None:
    from roamsync.domain.errors import RoamsyncError

    try:  # no such rule, no rule configured, EventBridge failing: a one-line error, exit status 1
        rule = get_container().schedule
        state = {"enable": rule.enable, "disable": rule.disable, "status": rule.status}[action]()
    except RoamsyncError as exc:
        raise click.ClickException(str(exc)) from None
    text = f"{state.rule_name}: {'enabled' if state.enabled else 'disabled'} ({state.expression})"
    _emit(state.to_json(), as_json, text)


@schedule.command("enable")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def schedule_enable(as_json: bool) -> None:
    """Turn the nightly sync, validation and auto-fix on."""
    _schedule("enable", as_json)


@schedule.command("disable")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def schedule_disable(as_json: bool) -> None:
    """Turn the nightly run off (a sync can still be started by hand)."""
    _schedule("disable", as_json)


@schedule.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def schedule_status(as_json: bool) -> None:
    """Whether the nightly run is on, and its schedule expression."""
    _schedule("status", as_json)


@main.group()
def backup() -> None:
    """Every table to a JSON-lines file, and back (see README: Operator runbook)."""


def _backup_target() -> tuple[Any, dict[str, str], dict[str, Any]]:
    """A DynamoDB client, the tables (template logical id → configured name) and the template."""
    import boto3

    from roamsync_dev.template import load_template, table_env

    settings = get_container().settings
    template = load_template()
    tables = {
        logical_id: str(getattr(settings, env.lower())) for env, logical_id in table_env(template).items()
    }
    client = boto3.client("dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint)
    return client, tables, template


def _item_progress(verb: str, enabled: bool) -> Any:
    def report(table: str, done: int) -> None:
        if enabled:
            click.echo(f"\r{verb} {table}: {done} items{' ' * 10}", nl=False, err=True)

    return report


def _only_tables(tables: dict[str, str], chosen: tuple[str, ...]) -> set[str] | None:
    unknown = sorted(set(chosen) - set(tables))
    if unknown:
        raise click.BadParameter(f"no table {', '.join(unknown)}; the tables are {', '.join(sorted(tables))}")
    return set(chosen) or None


TABLE_OPTION = click.option(
    "--table",
    "chosen",
    multiple=True,
    metavar="LOGICAL_ID",
    help="Only this table (template logical id, e.g. MyPackagesTable); repeatable. Default: every table.",
)


def _describe_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{table} {count}" for table, count in sorted(counts.items()))


@backup.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@TABLE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def backup_export(file: Path, chosen: tuple[str, ...], as_json: bool) -> None:
    """Write every item of every table to FILE: JSON lines, a header with the schema version first.

    A consistent read of each table, one after the other (not a point-in-time snapshot across
    tables: stop the schedule first for a quiet copy). FILE appears only once complete.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from roamsync_dev.backup import export_tables

    client, tables, template = _backup_target()
    only = _only_tables(tables, chosen)
    if only is not None:
        tables = {lid: name for lid, name in tables.items() if lid in only}
    progress = _item_progress("exporting", sys.stderr.isatty() and not as_json)
    try:
        summary = export_tables(client, tables, file, template, progress=progress)
    except (BotoCoreError, ClientError) as exc:
        raise click.ClickException(f"export failed, nothing written: {exc}") from None
    if sys.stderr.isatty() and not as_json:
        click.echo("", err=True)
    body = {"file": str(file), **summary.to_json()}
    _emit(body, as_json, f"exported {body['total']} items ({_describe_counts(summary.counts)}) to {file}")


@backup.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Restore without asking first.")
@TABLE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def backup_restore(file: Path, yes: bool, chosen: tuple[str, ...], as_json: bool) -> None:
    """Put every item of FILE back into the tables (BatchWriteItem), overwriting the items with the
    same keys. Idempotent: restoring twice gives the same tables. Items created since the backup are
    kept (restore into empty tables for an exact copy).

    Refuses, writing nothing, a file written for another schema version (other table keys), a
    truncated file, or anything that is not a roamsync backup.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from roamsync.domain.errors import StorageError
    from roamsync_dev.backup import BackupError, restore_tables, verify

    client, tables, template = _backup_target()
    only = _only_tables(tables, chosen)
    try:
        planned = verify(file, template, tables)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    if only is not None:
        planned.counts = {lid: n for lid, n in planned.counts.items() if lid in only}
    targets = ", ".join(f"{tables[t]} ({n})" for t, n in sorted(planned.counts.items()))
    if not yes:
        click.confirm(f"Put {sum(planned.counts.values())} items back into {targets}?", abort=True, err=True)
    progress = _item_progress("restoring", sys.stderr.isatty() and not as_json)
    try:
        summary = restore_tables(client, tables, file, template, only=only, progress=progress)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    except (BotoCoreError, ClientError, StorageError) as exc:
        raise click.ClickException(f"restore stopped part-way (run it again to finish): {exc}") from None
    if sys.stderr.isatty() and not as_json:
        click.echo("", err=True)
    body = {"file": str(file), **summary.to_json()}
    _emit(body, as_json, f"restored {body['total']} items ({_describe_counts(summary.counts)}) from {file}")


@main.command()
@click.argument("function")
@click.option(
    "-e",
    "--event",
    "event_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Event JSON file (see events/).",
)
def invoke(function: str, event_file: Path) -> None:
    """Run FUNCTION (a template logical id, e.g. SyncFunction) in-process with an event, as
    `sam local invoke` would, without Docker. Prints the handler's result as JSON."""
    from roamsync_dev.lambda_runtime import invoke as run_handler
    from roamsync_dev.template import functions, load_template

    template = load_template()
    if function not in functions(template):
        names = ", ".join(sorted(functions(template)))
        raise click.BadParameter(f"unknown function {function!r}; the template has: {names}")
    try:
        event = json.loads(event_file.read_text())
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{event_file} is not JSON: {exc}") from None
    # What the function prints (its logs, EMF metrics) goes to stderr, as with `sam local invoke`;
    # stdout carries only the result.
    with contextlib.redirect_stdout(sys.stderr):
        result = run_handler(function, event, template)
    click.echo(json.dumps(result, indent=2, default=str))


@main.command()
@click.option("--gateway-port", default=3000, show_default=True)
@click.option("--dynamodb-port", default=4566, show_default=True)
@click.option("--simulator-port", default=4010, show_default=True)
@click.option("--catalog-size", default=500, show_default=True, help="Packages the simulator serves.")
@click.option("--seed", default=7, show_default=True, help="Simulator catalog seed.")
def local(gateway_port: int, dynamodb_port: int, simulator_port: int, catalog_size: int, seed: int) -> None:
    """Run the whole application on this machine: DynamoDB (moto), the Roamify simulator and the
    API gateway, until Ctrl-C. AWS_ENDPOINT_URL_DYNAMODB / ROAMIFY_BASE_URL, when set, are used
    instead of the embedded ones."""
    from roamsync_dev.local_stack import LocalStack

    stack = LocalStack(
        gateway_port=gateway_port,
        dynamodb_port=dynamodb_port,
        simulator_port=simulator_port,
        catalog_size=catalog_size,
        seed=seed,
        state_file=STATE_FILE,
    )
    stack.run_forever()


if __name__ == "__main__":
    main()
