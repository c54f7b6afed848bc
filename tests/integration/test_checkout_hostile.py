"""Checkout validation when the catalog, the cache or Roamify misbehave, through the local stack's
gateway and the Roamify simulator over real HTTP: what a client sees, and what the ValidationCache
table holds afterwards.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

import pytest

from roamsync.container import Container, set_container
from roamsync.domain.equivalence import Difference, compare_for
from roamsync.domain.packages import Package
from roamsync.services.catalog import candidate_packages, destination_of
from tests.integration.test_checkout import Checkout, checkout  # noqa: F401 - the fixture

TOLERANCE = Decimal("0.10")  # the stack's FALLBACK_MAX_PRICE_INCREASE (the default)


def _content_reasons(original: Package, candidate: Package, destination: str) -> tuple[str, ...]:
    """How `candidate` is worse than `original` for what it gives, price aside."""
    worse = compare_for(original, candidate, (destination,), max_price_increase=TOLERANCE).worse
    return tuple(str(d) for d in worse if d is not Difference.PRICE_ABOVE_TOLERANCE)


def _usable(original: Package, candidate: Package, destination: str) -> bool:
    worse = compare_for(original, candidate, (destination,), max_price_increase=TOLERANCE).worse
    return not {Difference.SAME_PACKAGE, Difference.INACTIVE, Difference.NOT_COVERING_DESTINATION} & set(
        worse
    )


@pytest.fixture
def shop(checkout: Checkout) -> Checkout:  # noqa: F811 - checkout's fixture, under this module's name
    return checkout


@pytest.fixture
def two_kinds(shop: Checkout) -> tuple[Package, str, list[Package], list[Package]]:
    """An active single-country package, its destination, the candidates equivalent or better in what
    they give (price aside) and the one-reason downgrades, each list non-empty."""
    for original in sorted(shop.catalog().values(), key=lambda p: p.reseller_id):
        destination = destination_of(original, None)
        if original.status != "active" or destination is None:
            continue
        candidates = [
            c
            for c in candidate_packages(original, destination, shop.container.packages)
            if _usable(original, c, destination)
        ]
        equivalent = [c for c in candidates if not _content_reasons(original, c, destination)]
        downgrades = [c for c in candidates if len(_content_reasons(original, c, destination)) == 1]
        if equivalent and downgrades and len(equivalent) < 5:
            return original, destination, equivalent, downgrades
    raise AssertionError("the simulated catalog has no package with both kinds of alternatives")


# ---- ranking ------------------------------------------------------------------------------------------


def test_equivalent_plans_priced_above_the_fallback_bound_are_still_suggested_before_any_downgrade(
    shop: Checkout, two_kinds: tuple[Package, str, list[Package], list[Package]]
) -> None:
    # given every equivalent-or-better plan priced far above the automatic fallback bound (more than
    # any one-reason downgrade), and the original removed upstream and deactivated by a sync
    original, _, equivalent, downgrades = two_kinds
    delta = int(max(p.price for p in downgrades) + original.price) + 1
    raised = [p.reseller_id for p in equivalent]
    shop.simulator.change_prices(raised, delta)
    shop.simulator.remove_packages([original.reseller_id])
    try:
        shop.sync()

        # when it is validated
        response = shop.post({"packageId": original.reseller_id})
    finally:
        shop.simulator.restore_packages([original.reseller_id])
        shop.simulator.change_prices(raised, -delta)
        shop.sync()

    # then it is blocked, and every equivalent plan comes first, cheapest first, with its price
    # difference and a flag saying it is beyond the automatic bound
    assert response.status_code == 409, response.text
    alternatives = response.json()["alternatives"]
    offered = [a["packageId"] for a in alternatives]
    assert offered[: len(equivalent)] == [
        p.reseller_id for p in sorted(equivalent, key=lambda p: (p.price, p.reseller_id))
    ], alternatives
    for a in alternatives[: len(equivalent)]:
        assert (a["equivalentOrBetter"], a["downgrade"], a["reasons"]) == (True, False, [])
        assert a["withinFallbackBound"] is False
        assert Decimal(str(a["priceDifference"])) == Decimal(str(a["price"])) - original.price
        assert Decimal(str(a["priceDifference"])) > original.price * TOLERANCE
    # and only then the downgrades, labelled, none of them for its price
    rest = alternatives[len(equivalent) :]
    assert rest and all(a["downgrade"] and not a["equivalentOrBetter"] and a["reasons"] for a in rest)
    assert all("price_above_tolerance" not in a["reasons"] for a in alternatives)


# ---- the cache ----------------------------------------------------------------------------------------


def test_a_cached_block_no_longer_offers_an_alternative_a_later_sync_deactivated(
    shop: Checkout, two_kinds: tuple[Package, str, list[Package], list[Package]]
) -> None:
    original, _, _, _ = two_kinds
    shop.simulator.remove_packages([original.reseller_id])
    gone: list[str] = []
    try:
        # given a removed package's block answer, cached with its alternatives
        shop.sync()
        first = shop.post({"packageId": original.reseller_id})
        assert first.status_code == 409, first.text
        assert shop.post({"packageId": original.reseller_id}).json()["cached"] is True
        gone = [first.json()["alternatives"][0]["packageId"]]

        # when a later sync deactivates the first alternative offered
        shop.simulator.remove_packages(gone)
        shop.sync()
        assert shop.catalog()[gone[0]].status == "inactive"
        again = shop.post({"packageId": original.reseller_id})
    finally:
        shop.simulator.restore_packages([original.reseller_id, *gone])
        shop.sync()

    # then the answer still comes from the cache, but never offers the deactivated plan
    assert again.status_code == 409, again.text
    assert again.json()["cached"] is True
    offered = [a["packageId"] for a in again.json()["alternatives"]]
    assert gone[0] not in offered
    assert offered  # the others still are


def test_an_answer_computed_before_a_cache_clear_is_not_served_after_it(shop: Checkout) -> None:
    # given a validation that waits on a slow Roamify (1 s, inside its read timeout)
    settings = shop.container.settings.model_copy(update={"roamify_read_timeout_seconds": 3.0})
    container = Container(settings, clock=shop.clock)
    set_container(container)
    package_id = shop.active_ids()[11]
    shop.simulator.faults.slow_seconds = 1.0
    answers: list[Any] = []
    worker = threading.Thread(target=lambda: answers.append(shop.post({"packageId": package_id})))
    worker.start()

    # when the cache is cleared while Roamify is answering it
    time.sleep(0.4)
    cleared = shop.clear()
    worker.join(timeout=30)
    shop.simulator.faults.slow_seconds = 0.0

    # then the answer itself is given, but the next validation does not find it in the cache
    assert cleared.status_code == 200, cleared.text
    assert answers[0].status_code == 200 and answers[0].json()["action"] == "proceed"
    generation = cleared.json()["generation"]
    assert not [k for k in shop.cache_items() if k.startswith(f"g{generation}#") and package_id in k]
    response = shop.post({"packageId": package_id})
    assert response.json()["cached"] is False
    assert shop.upstream_calls() == 2
