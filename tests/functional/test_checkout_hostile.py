"""Checkout validation when the catalog, the cache or Roamify misbehave, through the local stack's
gateway and the Roamify simulator over real HTTP: what a client sees, and what the ValidationCache
table holds afterwards.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import botocore.config
import pytest
import requests
from botocore.stub import Stubber

from roamsync.container import (
    CHECKOUT_DEADLINE_MARGIN_SECONDS,
    CHECKOUT_TIME_BUDGET_SECONDS,
    Container,
    set_container,
)
from roamsync.domain.equivalence import Difference, compare_for
from roamsync.domain.packages import Package
from roamsync.services.catalog import candidate_packages, destination_of
from roamsync_dev import lambda_runtime
from roamsync_dev.simulator import SocketFault
from tests.functional.test_checkout import (  # noqa: F401 - checkout is the fixture
    Checkout,
    _validate_event,
    checkout,
)

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


# ---- Secrets Manager ----------------------------------------------------------------------------------

ROAMIFY_SECRET = "roamsync/roamify-api-key"


def _secrets_manager(stack: Any, **client_options: Any) -> Any:
    """A real Secrets Manager client: the stack's moto server (it serves every AWS API, not only
    DynamoDB), or wherever `client_options` point."""
    options = {"endpoint_url": stack.dynamodb_endpoint, **client_options}
    return boto3.client("secretsmanager", region_name=stack.region, **options)


@pytest.fixture
def keyed(shop: Checkout, monkeypatch: pytest.MonkeyPatch) -> Iterator[Checkout]:
    """The handlers reading the Roamify key from Secrets Manager (the stack's moto), as in AWS."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters import constants as base

    client = _secrets_manager(shop.stack)
    try:
        client.create_secret(Name=ROAMIFY_SECRET, SecretString=shop.simulator.api_key)
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=ROAMIFY_SECRET, SecretString=shop.simulator.api_key)
    parameters.clear_caches()  # (this empties DEFAULT_PROVIDERS too)
    monkeypatch.setitem(base.DEFAULT_PROVIDERS, "secrets", parameters.SecretsProvider(boto3_client=client))
    settings = shop.container.settings.model_copy(
        update={"roamify_api_key": None, "roamify_api_key_secret": ROAMIFY_SECRET}
    )
    shop.container = Container(settings, clock=shop.clock)
    set_container(shop.container)
    old_key = shop.simulator.api_key
    try:
        yield shop
    finally:
        shop.simulator.api_key = old_key
        parameters.clear_caches()


def _break_secrets_manager(monkeypatch: pytest.MonkeyPatch, stack: Any, how: str) -> None:
    """Make every GetSecretValue fail as the real SDK fails: no endpoint, or the service's own 500."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters import constants as base

    if how == "unreachable":
        client = _secrets_manager(
            stack,
            endpoint_url="http://127.0.0.1:9",
            config=botocore.config.Config(connect_timeout=0.5, retries={"total_max_attempts": 1}),
        )
    else:
        client = _secrets_manager(stack)
        stubber = Stubber(client)
        for _ in range(10):
            stubber.add_client_error(
                "get_secret_value", service_error_code="InternalServiceError", http_status_code=500
            )
        stubber.activate()
    parameters.clear_caches()  # (this empties DEFAULT_PROVIDERS too)
    monkeypatch.setitem(base.DEFAULT_PROVIDERS, "secrets", parameters.SecretsProvider(boto3_client=client))


@pytest.mark.parametrize("how", ["unreachable", "service-error"])
def test_a_secrets_manager_failure_is_a_503_with_retry_after_on_checkout_and_nothing_is_cached(
    keyed: Checkout, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    _break_secrets_manager(monkeypatch, keyed.stack, how)
    before = keyed.cache_items()

    response = keyed.post({"packageId": keyed.active_ids()[12]})

    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "secrets_unavailable"
    assert set(response.json()["error"]) == {"code", "message"}
    assert keyed.cache_items() == before
    assert keyed.upstream_calls() == 0


@pytest.mark.parametrize("how", ["unreachable", "service-error"])
def test_a_secrets_manager_failure_is_a_503_with_retry_after_on_orders_and_nothing_is_ordered(
    keyed: Checkout, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    _break_secrets_manager(monkeypatch, keyed.stack, how)
    orders_before = len(keyed.simulator.orders)

    response = requests.post(
        f"{keyed.stack.gateway_url}/api/orders",
        json={"packageId": keyed.active_ids()[12], "quantity": 1},
        headers={**keyed.bearer("client"), "Idempotency-Key": f"secrets-down-{how}"},
        timeout=30,
    )

    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "secrets_unavailable"
    assert len(keyed.simulator.orders) == orders_before
    orders = keyed.stack.dynamodb_client().scan(TableName=keyed.stack.table_names["OrdersTable"])["Items"]
    assert not [o for o in orders if f"secrets-down-{how}" in json.dumps(o)]


def test_a_secrets_manager_failure_is_a_503_with_retry_after_on_an_admin_sync_preview(
    keyed: Checkout, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the Roamify key unreadable (an admin dry run reads the catalog from Roamify at once)
    _break_secrets_manager(monkeypatch, keyed.stack, "unreachable")
    runs = keyed.stack.table_names["RunsTable"]
    before = keyed.stack.dynamodb_client().scan(TableName=runs, Select="COUNT")["Count"]

    response = requests.post(
        f"{keyed.stack.gateway_url}/api/admin/packages/sync",
        json={"dryRun": True},
        headers=keyed.bearer("admin"),
        timeout=30,
    )

    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "secrets_unavailable"
    assert keyed.stack.dynamodb_client().scan(TableName=runs, Select="COUNT")["Count"] == before


@pytest.mark.parametrize("route", ["/api/admin/packages/health", "/api/orders/no-such-order"])
def test_tokens_unreadable_from_secrets_manager_are_a_503_with_retry_after_from_the_gateway(
    keyed: Checkout, monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    # given the authorizer reading both bearer tokens from Secrets Manager, which cannot be reached
    from roamsync.settings import reset_settings

    for name in ("ADMIN_TOKEN", "CLIENT_TOKEN"):
        monkeypatch.delenv(name)
        monkeypatch.setenv(f"{name}_SECRET", f"roamsync/{name.lower()}")
    reset_settings()
    _break_secrets_manager(monkeypatch, keyed.stack, "unreachable")
    try:
        # when a token the gateway has no cached decision for is presented
        response = requests.get(
            f"{keyed.stack.gateway_url}{route}",
            headers={"Authorization": f"Bearer never-seen-{uuid.uuid4()}"},
            timeout=30,
        )
    finally:
        monkeypatch.undo()
        reset_settings()

    # then the caller is told to come back, not that the server broke
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "authorizer_unavailable"


def test_a_key_rotated_in_secrets_manager_is_read_again_after_roamifys_401(keyed: Checkout) -> None:
    # given a checkout client holding the key it read from Secrets Manager
    first = keyed.post({"packageId": keyed.active_ids()[13]})
    assert first.json()["action"] == "proceed", first.text

    # when the key is rotated (Roamify kills the old one at once) and the secret updated
    keyed.simulator.api_key = "rotated-key"
    _secrets_manager(keyed.stack).put_secret_value(SecretId=ROAMIFY_SECRET, SecretString="rotated-key")
    response = keyed.post({"packageId": keyed.active_ids()[14]})

    # then the 401 makes it read the key once more, and the checkout is confirmed with the new one
    assert response.status_code == 200, response.text
    assert (response.json()["action"], response.json()["reason"]) == ("proceed", None)


def test_a_401_with_an_unchanged_secret_is_not_retried_forever(keyed: Checkout) -> None:
    keyed.post({"packageId": keyed.active_ids()[13]})
    keyed.simulator.api_key = "a-key-nobody-has"
    calls = keyed.upstream_calls()

    response = keyed.post({"packageId": keyed.active_ids()[15]})

    # the catalog vouches; Roamify was asked once more, not again and again
    assert response.status_code == 200, response.text
    assert (response.json()["action"], response.json()["reason"]) == ("warn", "upstream_unreachable")
    assert keyed.upstream_calls() == calls + 1


# ---- Roamify misbehaving at the socket ------------------------------------------------------------------

LIVE_CHECK = {"method": "GET", "path": "/api/esim/packages"}
# Roamify gets the Lambda's time less the margin; the reply (through the gateway and authorizer) must
# then be out with at least a second of the function's time left.
CHECKOUT_DEADLINE = CHECKOUT_TIME_BUDGET_SECONDS - 1.0


@pytest.fixture
def production_timeouts(shop: Checkout) -> Checkout:
    """The handlers with checkout's own Roamify timeouts (3 s reads, two attempts), not the suite's."""
    settings = shop.container.settings.model_copy(update={"roamify_read_timeout_seconds": 10.0})
    shop.container = Container(settings, clock=shop.clock)
    set_container(shop.container)
    return shop


@pytest.mark.parametrize(
    "fault",
    [
        SocketFault("drip", drip_bytes=1, drip_interval=0.05, count=-1, **LIVE_CHECK),
        SocketFault("cut", cut_at=0.5, count=-1, **LIVE_CHECK),
        SocketFault("reset", count=-1, **LIVE_CHECK),
    ],
    ids=["drip", "cut", "reset"],
)
def test_a_live_check_broken_at_the_socket_is_the_catalogs_warning_within_the_deadline(
    production_timeouts: Checkout, fault: SocketFault
) -> None:
    # given Roamify's answer to the live package check dripping, cut off or reset at the socket
    shop = production_timeouts
    package_id = shop.active_ids()[16]
    shop.simulator.faults.socket_faults = [fault]
    before = shop.cache_items()

    # when the package is validated
    started = time.monotonic()
    response = shop.post({"packageId": package_id})
    elapsed = time.monotonic() - started

    # then the client gets the catalog-vouched warning, in time, and nothing is cached
    assert response.status_code == 200, response.text
    assert response.json() == {
        "action": "warn",
        "valid": True,
        "packageId": package_id,
        "reason": "upstream_unreachable",
        "alternatives": [],
        "cached": False,
    }
    assert elapsed < CHECKOUT_DEADLINE, elapsed
    assert shop.cache_items() == before
    assert shop.upstream_calls() >= 1


def test_a_dripping_live_check_is_answered_before_a_short_lived_lambda_runs_out(
    production_timeouts: Checkout,
) -> None:
    # given an invocation with 4 s to live, and Roamify's answer dripping in far slower than that
    shop = production_timeouts
    shop.simulator.faults.socket_faults = [SocketFault("drip", drip_interval=0.1, count=-1, **LIVE_CHECK)]
    context = lambda_runtime.FakeLambdaContext("roamsync-checkout", timeout_seconds=4)

    result = lambda_runtime.invoke(
        "CheckoutFunction", _validate_event({"packageId": shop.active_ids()[17]}), context=context
    )

    # then the warning comes back with at least the margin left
    assert context.get_remaining_time_in_millis() / 1000 >= CHECKOUT_DEADLINE_MARGIN_SECONDS - 0.5
    assert result["statusCode"] == 200, result
    assert json.loads(result["body"])["reason"] == "upstream_unreachable"


def test_a_live_check_cut_off_once_is_asked_again_and_confirmed(production_timeouts: Checkout) -> None:
    shop = production_timeouts
    package_id = shop.active_ids()[18]
    shop.simulator.faults.socket_faults = [SocketFault("cut", count=1, **LIVE_CHECK)]

    response = shop.post({"packageId": package_id})

    # a GET is safe to repeat: the cut-off answer is asked for again within the budget
    assert (response.status_code, response.json()["action"]) == (200, "proceed"), response.text
    assert shop.upstream_calls() == 2
    assert [k for k in shop.cache_items() if package_id in k]
