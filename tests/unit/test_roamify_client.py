"""The Roamify client's retries, timeouts and error types, against a scripted session (no sockets)."""

from collections.abc import Callable

import pytest
import requests

from roamsync.adapters.roamify import RetryPolicy, RoamifyClient
from roamsync.domain.errors import (
    RateLimited,
    UpstreamAuthError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from tests.fakes.http import ScriptedSession, response


def page(*ids: str, code: str = "SE") -> dict:
    packages = [
        {"packageId": i, "package": i, "day": 7, "price": 1, "dataAmount": 1024, "dataUnit": "MB"}
        for i in ids
    ]
    return {
        "status": "success",
        "data": {"packages": [{"countryCode": code, "countryName": code, "packages": packages}]},
    }


# The page after the last: paging ends on it (a short page alone may be Roamify's own page-size cap).
def empty():
    return response(200, {"status": "success", "data": {"packages": []}})


def client(session: ScriptedSession, attempts: int = 3) -> tuple[RoamifyClient, list[float]]:
    sleeps: list[float] = []
    c = RoamifyClient(
        "https://roamify.test",
        "k3y",
        retry=RetryPolicy(attempts, 0.5, 4.0),
        session=session,
        sleep=sleeps.append,
        connect_timeout=1.5,
        read_timeout=4.0,
    )
    return c, sleeps


def test_paging_stops_at_a_short_page_once_the_next_lists_nothing():
    session = ScriptedSession(
        response(200, page("a", "b")), response(200, page("c", "d")), response(200, page("e")), empty()
    )
    c, _ = client(session)
    pages = list(c.iter_catalog_pages(page_size=2, concurrency=1))
    assert [p.listings for p in pages] == [2, 2, 1]
    assert [call[2]["params"] for call in session.calls] == [
        {"page": 1, "pageSize": 2},
        {"page": 2, "pageSize": 2},
        {"page": 3, "pageSize": 2},
        {"page": 4, "pageSize": 2},
    ]


def test_a_short_page_followed_by_more_listings_was_roamifys_own_page_size():
    # asked for 3 a page, Roamify serves 2: every page is "short", the catalog goes on
    session = ScriptedSession(
        response(200, page("a", "b")), response(200, page("c", "d")), response(200, page("e")), empty()
    )
    c, _ = client(session)
    pages = list(c.iter_catalog_pages(page_size=3, concurrency=1))
    assert [p.listings for p in pages] == [2, 2, 1]


def test_a_page_failing_after_a_short_page_ends_the_catalog_there():
    session = ScriptedSession(response(200, page("a", "b")), response(200, page("c")), *[response(500)] * 3)
    c, _ = client(session, attempts=3)
    pages = list(c.iter_catalog_pages(page_size=2, concurrency=1))
    assert [p.listings for p in pages] == [2, 1]


def test_a_page_failing_after_a_full_page_fails_the_crawl():
    session = ScriptedSession(response(200, page("a", "b")), *[response(500)] * 3)
    c, _ = client(session, attempts=3)
    with pytest.raises(UpstreamUnavailable) as raised:
        list(c.iter_catalog_pages(page_size=2, concurrency=1))
    assert raised.value.page == 2


def test_every_call_carries_the_bearer_key_and_a_timeout():
    session = ScriptedSession(response(200, page()))
    c, _ = client(session)
    list(c.iter_catalog_pages())
    assert session.headers["Authorization"] == "Bearer k3y"
    assert session.calls[0][2]["timeout"] == (1.5, 4.0)


def test_a_5xx_on_a_get_is_retried_with_capped_full_jitter_backoff():
    session = ScriptedSession(
        response(500, {"message": "x"}), response(503), response(200, page("a")), empty()
    )
    c, sleeps = client(session)
    assert [p.listings for p in c.iter_catalog_pages(page_size=50)] == [1]
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0


def test_a_get_that_keeps_failing_raises_after_the_allowed_attempts():
    session = ScriptedSession(*(response(500) for _ in range(3)))
    c, sleeps = client(session, attempts=3)
    with pytest.raises(UpstreamUnavailable):
        list(c.iter_catalog_pages())
    assert len(session.calls) == 3 and len(sleeps) == 2


def test_429_waits_for_retry_after():
    session = ScriptedSession(response(429, {"message": "slow"}, {"Retry-After": "2"}), response(200, page()))
    c, sleeps = client(session)
    list(c.iter_catalog_pages())
    assert [s for s in sleeps if s] == [pytest.approx(2.0, abs=0.05)]


def test_429_that_persists_surfaces_as_rate_limited():
    session = ScriptedSession(*(response(429, headers={"Retry-After": "1"}) for _ in range(3)))
    c, _ = client(session)
    with pytest.raises(RateLimited):
        list(c.iter_catalog_pages())


def test_timeouts_are_retried_on_gets_then_typed():
    session = ScriptedSession(requests.ReadTimeout(), requests.ConnectionError(), requests.ReadTimeout())
    c, _ = client(session)
    with pytest.raises(UpstreamTimeout):
        list(c.iter_catalog_pages())
    assert len(session.calls) == 3


@pytest.mark.parametrize(
    ("status", "error"), [(401, UpstreamAuthError), (403, UpstreamAuthError), (422, UpstreamRejected)]
)
def test_client_errors_are_not_retried(status, error):
    session = ScriptedSession(response(status, {"message": "no", "status": "failed"}))
    c, sleeps = client(session)
    with pytest.raises(error):
        list(c.iter_catalog_pages())
    assert len(session.calls) == 1 and sleeps == []


def test_an_order_creation_is_never_retried_by_the_client():
    session = ScriptedSession(response(500, {"message": "Unknown error", "status": "failed"}))
    c, _ = client(session)
    with pytest.raises(UpstreamUnavailable):
        c.create_order("esim-x", 1, "ref-1")
    assert len(session.calls) == 1


def test_a_page_that_repeats_forever_is_detected():
    session = ScriptedSession(response(200, page("a", "b")), response(200, page("a", "b")))
    c, _ = client(session)
    with pytest.raises(UpstreamUnavailable, match="again as page 2"):
        list(c.iter_catalog_pages(page_size=2))


def test_a_response_without_the_packages_list_is_an_upstream_failure():
    session = ScriptedSession(*(response(200, {"status": "success"}) for _ in range(3)))
    c, _ = client(session)
    with pytest.raises(UpstreamUnavailable):
        list(c.iter_catalog_pages())


def test_health_is_false_instead_of_raising():
    session = ScriptedSession(requests.ConnectTimeout())
    c, _ = client(session)
    assert c.healthy() is False


def test_the_same_packages_under_another_country_node_are_not_a_repeated_page():
    # a regional plan is listed, in the same order, under each of its countries
    session = ScriptedSession(
        response(200, page("eu-1", "eu-2", code="SE")),
        response(200, page("eu-1", "eu-2", code="NO")),
        response(200, page()),
    )
    c, _ = client(session)
    pages = list(c.iter_catalog_pages(page_size=2, concurrency=1))
    assert [p.number for p in pages] == [1, 2]  # page 3 lists nothing: the end


def _answer_for_key(session: ScriptedSession, accepted: str, body: dict) -> Callable[..., requests.Response]:
    """A reply that is `body` when the session sends `accepted` as its key, else Roamify's 401."""

    def reply(method: str, url: str, kwargs: dict) -> requests.Response:
        if session.headers.get("Authorization") == f"Bearer {accepted}":
            return response(200, body)
        return response(401, {"message": "Unauthorized", "status": "failed"})

    return reply


def test_a_401_reads_the_key_again_once_and_resends_with_the_rotated_one():
    session = ScriptedSession()
    session.replies = [_answer_for_key(session, "rotated", page("a"))] * 2
    reads: list[str] = []

    def source() -> str:
        reads.append("read")
        return "rotated"

    c = RoamifyClient("https://roamify.test", "k3y", session=session, api_key_source=source)

    assert [n["countryCode"] for n in c.package_nodes("a")] == ["SE"]
    assert (reads, len(session.calls)) == (["read"], 2)
    assert session.headers["Authorization"] == "Bearer rotated"


def test_a_401_with_the_key_unchanged_at_its_source_fails_after_one_call():
    session = ScriptedSession()
    session.replies = [_answer_for_key(session, "other", page("a"))] * 3
    c = RoamifyClient("https://roamify.test", "k3y", session=session, api_key_source=lambda: "k3y")

    with pytest.raises(UpstreamAuthError):
        c.package_nodes("a")
    assert len(session.calls) == 1


def test_without_a_key_source_a_401_is_not_resent():
    session = ScriptedSession(response(401, {"message": "Unauthorized", "status": "failed"}))
    c = RoamifyClient("https://roamify.test", "k3y", session=session)

    with pytest.raises(UpstreamAuthError):
        c.package_nodes("a")
    assert len(session.calls) == 1
