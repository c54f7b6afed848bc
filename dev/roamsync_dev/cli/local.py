"""`roamsync invoke` and `roamsync local`: one handler in-process, or the whole local stack."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from roamsync_dev.cli.output import STATE_FILE
from roamsync_dev.cli.root import main


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
