"""`roamsync sim`: the Roamify simulator's control API."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import click

from roamsync_dev.cli.output import _emit
from roamsync_dev.cli.root import main

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
