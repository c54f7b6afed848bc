"""`roamsync schedule`: the scheduled sync's rule."""

from __future__ import annotations

import click

from roamsync.container import get_container
from roamsync_dev.cli.output import _emit
from roamsync_dev.cli.root import main


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
