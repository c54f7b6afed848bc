"""Serving a WSGI app (the simulator, the gateway) on loopback from a daemon thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without the per-request access log (tests make thousands of requests)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


@dataclass
class RunningServer:
    """A server on a daemon thread; `stop()` (or leaving the `with` block) shuts it down."""

    url: str
    port: int
    server: BaseWSGIServer
    thread: threading.Thread

    def stop(self) -> None:
        """Stop accepting requests, close the socket and wait for the serving thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_wsgi(app: Any, host: str, port: int, *, name: str, access_log: bool) -> RunningServer:
    """Serve `app` on host:port (0 picks a free port); return once it listens. OSError if taken."""
    handler = WSGIRequestHandler if access_log else QuietHandler
    server = make_server(host, port, app, threaded=True, request_handler=handler)
    # A short poll interval makes stop() return in ~50 ms instead of werkzeug's default 0.5 s.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=name, daemon=True)
    thread.start()
    return RunningServer(f"http://{host}:{server.server_port}", server.server_port, server, thread)
