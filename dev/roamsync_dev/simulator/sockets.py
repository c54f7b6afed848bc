"""Socket-level faults played on the raw connection: a body cut off, an answer dripping in, a reset."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from roamsync_dev.serving import RawConnection
from roamsync_dev.simulator.faults import SocketFault


def send_faulted(fault: SocketFault, response: Response, raw: RawConnection) -> None:
    """Write `response` on the raw connection the way `fault` says (cut, drip or reset after the head)."""
    body = response.get_data()
    head = [f"HTTP/1.1 {response.status}"]
    head += [f"{name}: {value}" for name, value in response.headers.items() if name.lower() != "connection"]
    head.append("Connection: close")
    head_bytes = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
    try:
        if fault.kind == "cut":
            raw.send(head_bytes + body[: int(len(body) * fault.cut_at)])
            raw.end()
        elif fault.kind == "drip":
            raw.send(head_bytes + body, chunk=max(1, fault.drip_bytes), interval=fault.drip_interval)
            raw.end()
        else:
            raw.send(head_bytes)
            raw.reset()
    except OSError:
        pass  # the client gave up first (a deadline): that is what a drip is for


def discarded(start_response: Any) -> list[bytes]:
    """What the WSGI server is handed once the connection was played by hand: an answer it writes
    nowhere (the connection is taken over), so that it logs no error."""
    start_response("200 OK", [("Content-Length", "0")])
    return []


def page_of(request: Request) -> int | None:
    if request.path != "/api/esim/packages":
        return None
    try:
        return int(request.args.get("page", "1"))
    except ValueError:
        return None
