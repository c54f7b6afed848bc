"""Serving a WSGI app (the simulator, the gateway) on loopback from a daemon thread.

An app may also take its connection over at the socket (`environ[RAW_CONNECTION]`), to answer the
way a broken network or a misbehaving server does: cut off mid-body, dripping a few bytes at a time,
or reset. What werkzeug then writes goes nowhere, and the connection is closed once the request ends.
"""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

RAW_CONNECTION = "roamsync.raw_connection"


class RawConnection:
    """The client connection of one request, written to directly."""

    def __init__(self, handler: _FaultableHandler) -> None:
        self._handler = handler

    def _take_over(self) -> None:
        handler = self._handler
        if not isinstance(handler.wfile, io.BytesIO):
            # werkzeug's own answer, written after the app returns, goes nowhere; the real writer is
            # closed now, or it would keep the socket open past its close (and a reset from happening)
            with contextlib.suppress(OSError):
                handler.wfile.close()
            handler.wfile = io.BytesIO()
        handler.close_connection = True

    def send(self, data: bytes, *, chunk: int | None = None, interval: float = 0.0) -> None:
        """Write `data` to the socket, all at once or `chunk` bytes at a time with `interval` between."""
        self._take_over()
        sock = self._handler.connection
        if not chunk:
            sock.sendall(data)
            return
        for start in range(0, len(data), chunk):
            sock.sendall(data[start : start + chunk])
            if interval and start + chunk < len(data):
                time.sleep(interval)

    def end(self) -> None:
        """End the answer here (FIN): whatever was promised and not sent is cut off."""
        self._take_over()
        with contextlib.suppress(OSError):  # the client already went away
            self._handler.connection.shutdown(socket.SHUT_WR)

    def reset(self) -> None:
        """Drop the connection with a TCP reset once the request ends (no FIN first)."""
        self._take_over()
        self._handler.reset_connection = True


class _FaultableHandler(WSGIRequestHandler):
    reset_connection = False

    def make_environ(self) -> Any:
        environ = super().make_environ()
        environ[RAW_CONNECTION] = RawConnection(self)
        return environ

    def finish(self) -> None:
        super().finish()
        if self.reset_connection:
            # SO_LINGER 0, then close: the kernel answers with RST instead of an orderly FIN.
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()


class QuietHandler(_FaultableHandler):
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
    handler = _FaultableHandler if access_log else QuietHandler
    server = make_server(host, port, app, threaded=True, request_handler=handler)
    # A short poll interval makes stop() return in ~50 ms instead of werkzeug's default 0.5 s.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=name, daemon=True)
    thread.start()
    return RunningServer(f"http://{host}:{server.server_port}", server.server_port, server, thread)
