"""Serving the simulator: on loopback from a daemon thread (tests), or in the foreground (`python -m`)."""

from __future__ import annotations

import argparse
import signal

from roamsync_dev.serving import RunningServer, serve_wsgi
from roamsync_dev.simulator.app import RoamifySimulator

_DESCRIPTION = (
    "The simulator itself: a mutable catalog, an order log, fault switches and a WSGI app over them."
)


def start_server(
    simulator: RoamifySimulator, host: str = "127.0.0.1", port: int = 0, quiet: bool = True
) -> RunningServer:
    """Serve `simulator` on host:port (0 picks a free port) in a daemon thread; return once it listens."""
    return serve_wsgi(simulator, host, port, name="roamify-simulator", access_log=not quiet)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Serve a simulator in the foreground until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m roamsync_dev.simulator", description=_DESCRIPTION)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4010)
    parser.add_argument("--size", type=int, default=500, help="number of packages")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--api-key", default="sim-key")
    parser.add_argument("--page-size-default", type=int, default=50)
    args = parser.parse_args(argv)
    simulator = RoamifySimulator(args.size, args.seed, args.api_key, args.page_size_default)
    signal.signal(signal.SIGTERM, _interrupt)  # a supervisor's TERM stops it as cleanly as Ctrl-C
    server = start_server(simulator, args.host, args.port, quiet=False)
    print(f"Roamify simulator on {server.url} (key {args.api_key!r}, {args.size} packages); Ctrl-C stops it")
    print(f"control API: {server.url}/_sim/ (same key), or `roamsync sim --url {server.url} --help`")
    try:
        server.thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
