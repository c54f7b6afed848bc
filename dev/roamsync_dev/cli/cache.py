"""`roamsync cache`: the validation cache."""

from __future__ import annotations

import click

from roamsync.container import get_container
from roamsync_dev.cli.output import _emit
from roamsync_dev.cli.root import main


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
