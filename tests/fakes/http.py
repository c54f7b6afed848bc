"""A scripted stand-in for requests.Session: no sockets, every call recorded."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import requests

Reply = requests.Response | Exception | Callable[[str, str, dict[str, Any]], requests.Response]


def response(
    status: int, body: Any = None, headers: dict[str, str] | None = None, *, method="GET", url="https://x/"
) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    # Read as the client reads a real answer (streamed from `raw`), not from a preloaded `_content`.
    resp.raw = io.BytesIO(json.dumps(body).encode() if body is not None else b"")
    resp.headers.update(headers or {})
    resp.request = requests.Request(method, url).prepare()
    return resp


class ScriptedSession:
    """Answers each request with the next scripted reply (a Response, or an exception to raise)."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.headers: dict[str, str] = {}

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.calls.append((method, url, kwargs))
        if not self.replies:
            raise AssertionError(f"unexpected request {method} {url}")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, requests.Response):
            return reply(method, url, kwargs)
        reply.request = requests.Request(method, url, params=kwargs.get("params")).prepare()
        return reply
