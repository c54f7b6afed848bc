"""`roamsync`: the operator's command line. Runs the same service code as the Lambda handlers,
against the local stack or real AWS (whatever the environment's settings point at)."""

from __future__ import annotations

import contextlib
import dataclasses
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
@click.pass_context
def main(ctx: click.Context, use_local: bool) -> None:
    """roamsync: keep the shop's package catalog in step with Roamify.

    Settings come from the environment: table names, ROAMIFY_BASE_URL, ROAMIFY_API_KEY,
    AWS_ENDPOINT_URL_DYNAMODB and the rest. Logs go to stderr; stdout carries only the command's
    output.
    """
    log_to(sys.stderr)
    ctx.ensure_object(dict)
    if use_local:
        if not STATE_FILE.exists():
            raise click.ClickException(f"no local stack state at {STATE_FILE}: start one with `make run`")
        state = json.loads(STATE_FILE.read_text())
        ctx.obj["local_state"] = state
        os.environ.update(state["env"])
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


# ---- the Roamify simulator's control API ------------------------------------------------------------


class _SimClient:
    """The simulator's /_sim/ control API over HTTP; every failure is a one-line ClickException."""

    def __init__(self, url: str, key: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        import requests

        try:
            response = requests.request(
                method,
                f"{self.url}/_sim{path}",
                json=body,
                params=params,
                headers={"Authorization": f"Bearer {self.key}"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            reason = type(exc).__name__  # requests' own text is a paragraph of urllib3 internals
            raise click.ClickException(
                f"the simulator at {self.url} does not answer ({reason}): is it running?"
            ) from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        error = payload.get("error") if isinstance(payload, dict) else None
        if response.status_code >= 400 and isinstance(error, dict):
            status = f"{response.status_code} {error.get('code')}"
            raise click.ClickException(f"the simulator refused it ({status}): {error.get('message')}")
        if response.status_code >= 400 or not isinstance(payload, dict):
            raise click.ClickException(
                f"{self.url} answered {response.status_code} to {method} /_sim{path}: "
                "not a Roamify simulator's control API (an external Roamify has none)"
            )
        return payload


@dataclasses.dataclass
class _SimTarget:
    """What `sim` was given; resolved only when a command calls the simulator (so --help works)."""

    url: str | None
    key: str | None
    local_state: dict[str, Any] | None


def _sim_client(ctx: click.Context) -> _SimClient:
    """The simulator to drive: --url / ROAMSYNC_SIM_URL, else the local stack's (with --local)."""
    target = ctx.find_object(_SimTarget)
    assert target is not None  # noqa: S101 - the sim group puts it there
    url, local_state = target.url, target.local_state
    if not url and local_state is not None:
        url = local_state.get("simulatorUrl")
        if not url:
            external = local_state.get("roamifyBaseUrl") or "an external Roamify"
            raise click.ClickException(
                f"the local stack talks to {external} (ROAMIFY_BASE_URL), not to its own simulator: "
                "there is no simulator to drive (pass --url for one elsewhere)"
            )
    if not url:
        raise click.ClickException(
            "which simulator? pass --url, set ROAMSYNC_SIM_URL, or use `roamsync --local sim ...` "
            "with the local stack running"
        )
    key = target.key or os.environ.get("ROAMIFY_API_KEY")
    if not key:
        raise click.ClickException("no API key for the simulator: pass --key or set ROAMSYNC_SIM_KEY")
    return _SimClient(url, key)


@main.group()
@click.option(
    "--url",
    envvar="ROAMSYNC_SIM_URL",
    metavar="URL",
    help="The simulator's base URL (env ROAMSYNC_SIM_URL). Default with --local: the local stack's.",
)
@click.option(
    "--key",
    envvar="ROAMSYNC_SIM_KEY",
    metavar="KEY",
    help="Its API key (env ROAMSYNC_SIM_KEY). Default: ROAMIFY_API_KEY (with --local: the stack's).",
)
@click.pass_context
def sim(ctx: click.Context, url: str | None, key: str | None) -> None:
    """Drive the Roamify simulator: its catalog, its fault switches, its order log.

    Talks to the simulator's control API (/_sim/, behind the simulator's own API key). Nothing
    here works against the real Roamify: with --local, the stack must run its embedded simulator
    (ROAMIFY_BASE_URL unset when it started).
    """
    ctx.obj = _SimTarget(url, key, (ctx.obj or {}).get("local_state"))


JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


@sim.command("packages")
@click.option("--removed", is_flag=True, help="The packages removed from the catalog instead.")
@JSON_OPTION
@click.pass_context
def sim_packages(ctx: click.Context, removed: bool, as_json: bool) -> None:
    """The package ids the simulator lists (or, with --removed, has removed), one a line."""
    body = _sim_client(ctx).call("GET", "/packages", params={"status": "removed" if removed else "listed"})
    _emit(body, as_json, "\n".join(body["ids"]))


def _move_packages(ctx: click.Context, action: str, ids: tuple[str, ...], as_json: bool) -> None:
    body = _sim_client(ctx).call("POST", f"/packages/{action}", {"ids": list(ids)})
    done = body[f"{action}d"]
    _emit(body, as_json, f"{action}d {len(done)} package(s): {', '.join(done)}")


@sim.command("remove")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@JSON_OPTION
@click.pass_context
def sim_remove(ctx: click.Context, ids: tuple[str, ...], as_json: bool) -> None:
    """Stop listing these packages (ordering one then fails). All or nothing: an id not listed
    changes nothing."""
    _move_packages(ctx, "remove", ids, as_json)


@sim.command("restore")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@JSON_OPTION
@click.pass_context
def sim_restore(ctx: click.Context, ids: tuple[str, ...], as_json: bool) -> None:
    """List removed packages again, unchanged. All or nothing: an id not removed changes nothing."""
    _move_packages(ctx, "restore", ids, as_json)


@sim.command("reprice")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@click.option("--delta", type=float, help="USD added to each price (negative lowers it; floor 0.01).")
@click.option("--price", type=float, help="The new price in USD, for every package named.")
@JSON_OPTION
@click.pass_context
def sim_reprice(
    ctx: click.Context, ids: tuple[str, ...], delta: float | None, price: float | None, as_json: bool
) -> None:
    """Change these packages' prices, by --delta or to --price. All or nothing."""
    if (delta is None) == (price is None):
        raise click.UsageError("give exactly one of --delta and --price")
    change = {"delta": delta} if delta is not None else {"price": price}
    body = _sim_client(ctx).call("POST", "/packages/reprice", {"ids": list(ids), **change})
    _emit(body, as_json, "\n".join(f"{pid}  {p:.2f}" for pid, p in body["prices"].items()))


def _describe_faults(body: dict[str, Any], everything: bool = True) -> str:
    """The switches (all, or only those off their default), then the socket faults."""
    from roamsync_dev.simulator.control import faults_to_json
    from roamsync_dev.simulator.faults import Faults

    defaults = faults_to_json(Faults())
    faults = body["faults"]
    width = max(len(name) for name in faults)
    lines = [
        f"{'*' if value != defaults.get(name) else ' '} {name:<{width}}  {json.dumps(value)}"
        for name, value in faults.items()
        if name != "socket_faults" and (everything or value != defaults.get(name))
    ]
    sockets = faults["socket_faults"]
    lines.append(f"  socket faults: {len(sockets) or 'none'}")
    lines += [f"    {n}. " + json.dumps(fault) for n, fault in enumerate(sockets, 1)]
    if body.get("on_page_served_installed"):
        lines.append("  on_page_served: a hook installed in-process")
    lines.append("(* differs from the default)" if everything else "(every other switch at its default)")
    return "\n".join(lines)


@sim.command("faults")
@JSON_OPTION
@click.pass_context
def sim_faults(ctx: click.Context, as_json: bool) -> None:
    """Every fault switch and its value, then the socket faults."""
    body = _sim_client(ctx).call("GET", "/faults")
    _emit(body, as_json, _describe_faults(body))


@sim.group("fault")
def sim_fault() -> None:
    """Set, add or clear the simulator's fault switches (`roamsync sim faults` shows them)."""


def _switch(assignment: str) -> tuple[str, Any]:
    name, sep, raw = assignment.partition("=")
    if not sep or not name:
        raise click.BadParameter(f"{assignment!r} is not NAME=VALUE", param_hint="NAME=VALUE")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw  # not JSON: the text itself
    return name.strip(), value


@sim_fault.command("set")
@click.argument("assignments", nargs=-1, required=True, metavar="NAME=VALUE...")
@JSON_OPTION
@click.pass_context
def sim_fault_set(ctx: click.Context, assignments: tuple[str, ...], as_json: bool) -> None:
    """Set fault switches, e.g. `fail_page=3 outage=true random_500_rate=0.2 fail_page=null`.

    VALUE is read as JSON (numbers, true / false, null, lists), else as text. All or nothing: an
    unknown name or a value of the wrong type sets none of them.
    """
    changes = dict(_switch(a) for a in assignments)
    body = _sim_client(ctx).call("PATCH", "/faults", changes)
    _emit(body, as_json, _describe_faults(body, everything=False))


@sim_fault.command("socket")
@click.option("--kind", required=True, type=click.Choice(["cut", "drip", "reset"]), help="What happens.")
@click.option("--path", help="Only answers to this path, e.g. /api/esim/packages. Default: any.")
@click.option("--method", help="Only answers to this method (GET, POST). Default: any.")
@click.option("--page", type=int, help="Only this catalog page.")
@click.option("--count", type=int, help="Answers it hits, then it is spent; -1: every one. Default 1.")
@click.option("--rate", type=float, help="Share of matching answers it hits. Default 1.")
@click.option("--cut-at", type=float, help="cut: share of the body sent before the close. Default 0.5.")
@click.option("--drip-bytes", type=int, help="drip: bytes a write. Default 1.")
@click.option("--drip-interval", type=float, help="drip: seconds between writes. Default 0.05.")
@click.option(
    "--before-response",
    is_flag=True,
    default=None,
    help="reset: before the request is handled (no order is created).",
)
@JSON_OPTION
@click.pass_context
def sim_fault_socket(ctx: click.Context, /, kind: str, as_json: bool, **options: Any) -> None:
    """Add a fault played on the TCP connection: a body cut off, an answer dripping in, a reset."""
    fault = {"kind": kind, **{name: value for name, value in options.items() if value is not None}}
    body = _sim_client(ctx).call("POST", "/faults/socket", fault)
    _emit(body, as_json, _describe_faults(body, everything=False))


@sim_fault.command("clear")
@JSON_OPTION
@click.pass_context
def sim_fault_clear(ctx: click.Context, as_json: bool) -> None:
    """Switch every fault off and drop every socket fault."""
    body = _sim_client(ctx).call("DELETE", "/faults")
    _emit(body, as_json, "every fault switched off")


@sim.command("orders")
@JSON_OPTION
@click.pass_context
def sim_orders(ctx: click.Context, as_json: bool) -> None:
    """Every order that reached the simulator, oldest first (answered 500 or not)."""
    body = _sim_client(ctx).call("GET", "/orders")
    lines = [
        f"{o['id']}  {o['status']}  ref {o['referenceId']}  {o['total']} {o['currency']}  "
        + ", ".join(item["packageId"] for item in o["items"])
        for o in body["orders"]
    ]
    _emit(body, as_json, "\n".join(lines) or "no orders yet")


if __name__ == "__main__":
    main()
