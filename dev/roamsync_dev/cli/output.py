"""What the commands print and how they exit: JSON or text, exit codes, progress on a terminal."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import click

from roamsync.domain.runs import Run, RunStatus

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


RECORD_NOT_SAVED_EXIT = 4
SYNC_IN_PROGRESS_EXIT = 5


@contextlib.contextmanager
def _domain_errors() -> Any:
    """A refused request (unknown id, bad input, lost race) is a one-line error and exit status 1."""
    from roamsync.domain.errors import BadRequest, Conflict, NotFound

    try:
        yield
    except (BadRequest, Conflict, NotFound) as exc:
        raise click.ClickException(str(exc)) from None
