"""One wall-clock deadline for a whole HTTP exchange, on top of requests.

requests (through urllib3 and http.client) bounds each socket operation by its timeouts, never the
call: an answer that drips in a byte at a time, each byte inside the read timeout, keeps a call going
for as long as the server likes. A 29-second API Gateway request cannot afford that, so every Roamify
call runs inside a `Deadline`: a timer that, when the call's time is up, shuts down the sockets the
call is using. The blocked read then returns at once, and the caller reports a timeout.

Written here because neither requests nor urllib3 offers a total-time bound (urllib3's
`Timeout(total=...)` is split over connect and read, and the read part is still per socket read),
and running each call in a thread of its own would leave that thread reading after the caller gave up.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class Deadline:
    """The time a call may take, from now. Used as a context manager around the whole exchange
    (request sent, headers and body read) on one thread; `expired` says whether it cut the call."""

    def __init__(self, seconds: float) -> None:
        self.seconds = max(0.0, seconds)
        self.ends_at = time.monotonic() + self.seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return max(0.0, self.ends_at - time.monotonic())

    def watch(self, sock: socket.socket | None) -> None:
        """Shut `sock` down when the deadline passes (at once, if it already has)."""
        if sock is None:
            return
        with self._lock:
            if any(s is sock for s in self._sockets):
                return
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def __enter__(self) -> Deadline:
        _current.deadline = self
        self._timer.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._timer.cancel()
        _current.deadline = None


def _shut(sock: socket.socket) -> None:
    # socket.socket.shutdown, not SSLSocket.shutdown: only the file descriptor is shut, so a read
    # blocked on it in another thread wakes up; the TLS object is left to the reader to discard.
    with contextlib.suppress(OSError):  # already closed or never connected: nothing to interrupt
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watch_current(sock: socket.socket | None) -> None:
    deadline: Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watch_current(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        # A kept-alive connection is reused without connect(): watch it for this call too.
        _watch_current(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watch_current(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch_current(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections are watched by the `Deadline` active on the calling thread."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
