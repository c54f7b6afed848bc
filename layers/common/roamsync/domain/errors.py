"""Domain errors. Adapters translate SDK and HTTP failures into these; handlers map them to HTTP."""

from __future__ import annotations


class RoamsyncError(Exception):
    """Base of every error roamsync raises on purpose."""


class NotFound(RoamsyncError):
    """The thing asked for does not exist."""


class Conflict(RoamsyncError):
    """A conditional write lost: someone else got there first."""


class BadRequest(RoamsyncError):
    """The caller's input cannot be acted on."""


class StorageError(RoamsyncError):
    """DynamoDB did not do what was asked (after its own retries)."""


class UpstreamError(RoamsyncError):
    """Roamify failed. Subclasses say how; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.page: int | None = None  # the catalog page that failed, for a failure while paging


class UpstreamAuthError(UpstreamError):
    """Roamify refused our key (401/403): rotated or wrong. Not retried."""


class UpstreamNotFound(UpstreamError):
    """A 404. `answered` is True only when the body is Roamify's own JSON error: a proxy's or a load
    balancer's 404 page says nothing about the thing asked for."""

    def __init__(self, message: str, *, status: int | None = 404, answered: bool = False) -> None:
        super().__init__(message, status=status)
        self.answered = answered


class UpstreamRejected(UpstreamError):
    """Roamify refused the request as malformed (400/422). Not retried."""


class UpstreamUnavailable(UpstreamError):
    """Roamify answered 5xx (or 429) after the retries we allow ourselves, or an unreadable answer.

    `answered` is True only when the error body is Roamify's own (JSON ``{"status": "failed", ...}``):
    then Roamify itself finished the request and said it failed. A proxy's 502/503/504, a body that
    is not Roamify's JSON, or a 2xx that could not be read leave `answered` False: the request may
    still be at work behind the proxy.
    """

    def __init__(self, message: str, *, status: int | None = None, answered: bool = False) -> None:
        super().__init__(message, status=status)
        self.answered = answered


class UpstreamTimeout(UpstreamError):
    """Roamify did not answer in time, or the connection failed: the outcome is unknown."""


class UpstreamUnreachable(UpstreamTimeout):
    """No connection could be opened (refused, name not resolved, connect timeout): nothing was sent,
    so nothing was done upstream. A subclass of UpstreamTimeout so that code which only knows "no
    answer" stays on the safe side."""


class UpstreamBadAnswer(UpstreamUnavailable):
    """An answer that broke off or cannot be read: cut off mid-body, undecodable, not JSON, or not the
    documented shape. The request may have been carried out; the answer is lost."""


class RateLimited(UpstreamError):
    """Roamify answered 429; `retry_after` is its Retry-After in seconds when given."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, status=429)
        self.retry_after = retry_after
