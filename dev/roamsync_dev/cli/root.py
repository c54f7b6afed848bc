"""The `roamsync` command group and its --local switch."""

from __future__ import annotations

import json
import os
import sys

import click

from roamsync.container import set_container
from roamsync.observability import log_to
from roamsync.settings import reset_settings
from roamsync_dev.cli.output import STATE_FILE


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
