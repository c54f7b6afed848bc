"""The simulator's fault switches: what a real upstream does wrong, on demand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

SocketFaultKind = Literal["cut", "drip", "reset"]
# A 2xx order answer that is not what was asked: an order for another package, fewer eSIMs than
# the quantity, or an order Roamify reports CANCELLED. The order created is the one answered.
OrderAnswerFault = Literal["other_package", "fewer_items", "cancelled"]


@dataclass
class SocketFault:
    """A fault on the TCP connection itself, for answers matching `method`, `path` and `page`.

    - `cut`: the status line, the headers (with the true Content-Length) and only `cut_at` of the
      body are sent, then the connection is closed: the client sees the body end early;
    - `drip`: the whole answer, status line and headers included, `drip_bytes` at a time with
      `drip_interval` seconds between writes;
    - `reset`: the status line and headers, then a TCP reset; with `before_response`, the reset
      comes before the request is handled at all (nothing is done: no order is created).

    Otherwise the request is handled first (an order is created) and only its answer suffers.
    """

    kind: SocketFaultKind
    method: str | None = None  # "GET", "POST"; None: any
    path: str | None = None  # e.g. "/api/esim/packages"; None: any
    page: int | None = None  # catalog pages only: this page number
    count: int = 1  # matching answers it hits, then it is spent; -1: every one
    rate: float = 1.0  # share of matching answers it hits (seeded)
    cut_at: float = 0.5
    drip_bytes: int = 1
    drip_interval: float = 0.05
    before_response: bool = False

    def matches(self, method: str, path: str, page: int | None) -> bool:
        return (
            self.count != 0
            and (self.method is None or self.method == method)
            and (self.path is None or self.path == path)
            and (self.page is None or self.page == page)
        )


@dataclass
class Faults:
    """Fault switches; set any field at any time while the server runs, `reset_faults()` clears them."""

    fail_page: int | None = None  # this packages page answers fail_page_status
    fail_page_status: int = 500
    random_500_rate: float = 0.0  # share of authorised requests answering 500 (seeded, reproducible)
    random_500_creates_only: bool = False  # random_500_rate hits order creations (POST) only
    error_after_commit_rate: float = 0.0  # share of order creations that commit, then answer 500 (seeded)
    outage: bool = False  # every request, health included, answers `outage_status` with Roamify's body
    outage_status: int = 503
    slow_seconds: float = 0.0  # sleep before answering any request
    rate_limit_remaining_429: int = 0  # the next N authorised requests answer 429
    retry_after_seconds: int = 1
    error_after_commit_next: int = 0  # the next N order creations commit, then answer 500
    timeout_after_commit_next: int = 0  # the next N order creations commit, then sleep timeout_seconds
    timeout_seconds: float = 5.0
    lookup_500_next: int = 0  # the next N order lookups (GET /api/esim/order) answer 500
    # The next N order creations are answered by a proxy in front of Roamify (`proxy_error_status`,
    # an HTML page, not Roamify's JSON) while Roamify still creates the order: a late commit.
    proxy_error_next: int = 0
    proxy_error_status: int = 504
    # The next N order creations create the order (a late commit, as above) but answer 200 with a
    # body that is not JSON.
    garbled_ok_next: int = 0
    # An order whose create answer was faulted (any fault above, or a socket fault on the create)
    # is seen by lookups only this many seconds after it was created. 0: the next lookup misses it,
    # later ones see it.
    late_visible_seconds: float = 0.0
    # Right after this catalog page is first served, the first country node on it leaves the
    # catalog (its packages listed nowhere else are removed): every later listing shifts. One-shot.
    shift_after_page: int | None = None
    # Called (outside the lock) with the number of every unfiltered catalog page served: tests change
    # the catalog mid-crawl with it. Not settable over HTTP.
    on_page_served: Callable[[int], None] | None = None
    # This catalog page carries one JSON `null` among its entries, taking one of its pageSize slots.
    null_record_page: int | None = None
    socket_faults: list[SocketFault] = field(default_factory=list)
    # The next N order creations create, and answer 2xx with, an order unlike the request.
    order_answer_next: int = 0
    order_answer: OrderAnswerFault = "other_package"
    # The next N get-one lookups (GET /api/esim/order) answer Roamify's JSON 404 whether or not the
    # order exists: an answer the documentation never gives, so it proves nothing.
    lookup_404_next: int = 0
