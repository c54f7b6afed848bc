"""`roamsync backup export|restore`: the tables to a file and back."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from roamsync.container import get_container
from roamsync_dev.cli.output import _emit
from roamsync_dev.cli.root import main


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
