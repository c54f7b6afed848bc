"""Checkout validation for real: the ValidationCache adapter on moto, then the routes through the local
stack's gateway and authorizer, with the Roamify simulator's request counts as the witness.

The adapter tests come first: they use in-process moto (`aws`), which must not overlap the module's
local stack (its moto server shares the process's moto state).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from roamsync.adapters.dynamo_models import ValidationCacheItem, bind_models
from roamsync.adapters.validation_cache import ValidationCache
from roamsync.container import (
    CHECKOUT_DEADLINE_MARGIN_SECONDS,
    CHECKOUT_TIME_BUDGET_SECONDS,
    Container,
    set_container,
    sync_catalog,
)
from roamsync.domain.equivalence import rank_alternatives
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.packages import Package
from roamsync.domain.runs import Trigger
from roamsync.services.catalog import GLOBAL_REGION, destination_of
from roamsync.settings import get_settings
from roamsync_dev import lambda_runtime
from roamsync_dev.cli import main as cli
from roamsync_dev.local_stack import LocalStack
from roamsync_dev.simulator import RoamifySimulator
from tests.conftest import make_settings
from tests.fakes.catalog import FakeClock

VALIDATE = "/api/checkout/validate"
CACHE = "/api/admin/packages/validation-cache"
PACKAGES_GET = ("GET", "/api/esim/packages")


# ==== the adapter on in-process moto ==============================================================


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def tables(aws: None) -> None:
    bind_models(make_settings())


def table_keys() -> dict[str, float | None]:
    return {item.cache_key: item.expires_at for item in ValidationCacheItem.scan()}


class DynamoCalls:
    """Counts DynamoDB API calls of the cache table's client by operation (botocore's event hook)."""

    def __init__(self) -> None:
        self.ops: Counter[str] = Counter()
        self.client = ValidationCacheItem._get_connection().connection.client

    def __call__(self, model: Any, **_: Any) -> None:
        self.ops[model.name] += 1

    def __enter__(self) -> DynamoCalls:
        self.client.meta.events.register("before-parameter-build.dynamodb", self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.meta.events.unregister("before-parameter-build.dynamodb", self)


def test_a_result_is_served_until_its_expires_at_and_not_after_although_the_item_stays(
    tables: None, clock: FakeClock
) -> None:
    cache = ValidationCache(clock=clock)
    cache.put("k", {"action": "proceed"}, ttl_seconds=30)
    assert cache.get("k") is not None

    # once the clock reaches expires_at, in this container and in a fresh one
    clock.advance(30)
    fresh = ValidationCache(clock=clock)

    assert cache.get("k") is None
    assert fresh.get("k") is None
    # although DynamoDB still holds the item (TTL deletes late; moto never does)
    [expires_at] = [e for k, e in table_keys().items() if k.endswith("#k")]
    assert expires_at == int(clock().timestamp())


def test_a_table_hit_is_kept_in_process_for_a_minute_at_most(tables: None, clock: FakeClock) -> None:
    # given a result another container stored
    ValidationCache(clock=clock).put("k", {"action": "proceed"}, ttl_seconds=3600)
    cache = ValidationCache(clock=clock)
    hit = cache.get("k")
    assert hit is not None and hit.source == "table"

    # when the table item disappears
    ValidationCacheItem(cache_key=next(k for k in table_keys() if k.endswith("#k"))).delete()

    # then this container still answers from memory within its 60 s, and not after
    clock.advance(59)
    again = cache.get("k")
    assert again is not None and again.source == "process"
    clock.advance(1)
    assert cache.get("k") is None


def test_an_in_process_copy_never_outlives_the_items_expires_at(tables: None, clock: FakeClock) -> None:
    cache = ValidationCache(clock=clock, entry_lifetime_seconds=60)
    cache.put("k", {"action": "proceed"}, ttl_seconds=10)

    clock.advance(10)

    assert cache.get("k") is None


def test_the_in_process_copies_are_bounded_least_recently_used_first(tables: None, clock: FakeClock) -> None:
    cache = ValidationCache(clock=clock, max_entries=2)
    for key in ("a", "b"):
        cache.put(key, {"key": key}, ttl_seconds=3600)
    assert cache.get("a") is not None  # "a" is now the most recently used

    cache.put("c", {"key": "c"}, ttl_seconds=3600)

    assert cache.process_entries == 2
    hits = {key: cache.get(key) for key in ("a", "c", "b")}
    assert {key: hit.source for key, hit in hits.items() if hit} == {
        "a": "process",
        "c": "process",
        "b": "table",  # evicted from memory, still in the table
    }


def test_a_clear_is_one_write_and_no_scan_and_is_seen_elsewhere_within_the_generation_lifetime(
    tables: None, clock: FakeClock
) -> None:
    # given two containers' caches, both holding a result
    here, there = ValidationCache(clock=clock), ValidationCache(clock=clock, generation_lifetime_seconds=5)
    for n in range(30):
        here.put(f"k{n}", {"n": n}, ttl_seconds=3600)
    assert there.get("k0") is not None

    # when one clears
    with DynamoCalls() as calls:
        generation = here.clear()

    # then that was a single UpdateItem, whatever the table holds
    assert calls.ops == Counter({"UpdateItem": 1})
    assert generation == 1 and here.clear() == 2
    # and this container misses at once
    assert here.get("k0") is None
    # and the other one within its generation lifetime: until then it may still answer (the bound)
    clock.advance(4)
    assert there.get("k0") is not None
    clock.advance(1)
    assert there.get("k0") is None
    assert there.generation() == 2


def test_a_zero_ttl_stores_nothing(tables: None, clock: FakeClock) -> None:
    cache = ValidationCache(clock=clock)

    cache.put("k", {"action": "proceed"}, ttl_seconds=0)

    assert table_keys() == {}


# ==== the routes through the local stack ==========================================================


@dataclass
class Checkout:
    stack: LocalStack
    container: Container
    clock: FakeClock

    @property
    def simulator(self) -> RoamifySimulator:
        simulator: RoamifySimulator | None = self.stack.simulator
        assert simulator is not None
        return simulator

    def upstream_calls(self) -> int:
        return self.simulator.request_counts[PACKAGES_GET]

    def bearer(self, who: str | None) -> dict[str, str]:
        """The Authorization header for "client", "admin", any other literal token, or none."""
        if who is None:
            return {}
        value = {"client": self.stack.client_token, "admin": self.stack.admin_token}.get(who, who)
        return {"Authorization": f"Bearer {value}"}

    def post(
        self, body: Any = None, *, who: str | None = "client", data: str | None = None
    ) -> requests.Response:
        return requests.post(
            f"{self.stack.gateway_url}{VALIDATE}",
            headers={"Content-Type": "application/json", **self.bearer(who)},
            data=data if data is not None else json.dumps(body),
            timeout=30,
        )

    def clear(self, who: str = "admin") -> requests.Response:
        return requests.delete(f"{self.stack.gateway_url}{CACHE}", headers=self.bearer(who), timeout=30)

    def cache_items(self) -> dict[str, dict[str, Any]]:
        client = self.stack.dynamodb_client()
        items = client.scan(TableName=self.stack.table_names["ValidationCacheTable"], ConsistentRead=True)
        return {i["cache_key"]["S"]: i for i in items["Items"]}

    def catalog(self) -> dict[str, Package]:
        return self.container.packages.load_all()

    def active_ids(self) -> list[str]:
        return sorted(k for k, p in self.catalog().items() if p.status == "active")

    def sync(self) -> None:
        outcome = sync_catalog(self.container, Trigger.CLI)
        assert outcome.run.status.value == "succeeded", outcome.run.summary()


@pytest.fixture
def checkout(local_stack: LocalStack) -> Iterator[Checkout]:
    """The stack's handlers wired to a Container whose clock the test moves; a fresh cache generation."""
    # Short Roamify reads so the timeout test stays quick; everything else as the stack configured it.
    settings = get_settings().model_copy(update={"roamify_read_timeout_seconds": 0.5})
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    container = Container(settings, clock=clock)
    set_container(container)
    container.validation_cache.clear()
    assert local_stack.simulator is not None
    local_stack.simulator.reset_faults()
    local_stack.simulator.reset_counts()
    try:
        yield Checkout(local_stack, container, clock)
    finally:
        local_stack.simulator.reset_faults()
        set_container(None)


def test_an_active_package_proceeds(checkout: Checkout) -> None:
    package_id = checkout.active_ids()[0]

    response = checkout.post({"packageId": package_id})

    assert response.status_code == 200, response.text
    assert response.json() == {
        "action": "proceed",
        "valid": True,
        "packageId": package_id,
        "reason": None,
        "alternatives": [],
        "cached": False,
    }
    assert checkout.upstream_calls() == 1


def test_a_second_validation_within_the_ttl_makes_no_upstream_call_and_says_cached(
    checkout: Checkout,
) -> None:
    package_id = checkout.active_ids()[1]
    checkout.post({"packageId": package_id})
    checkout.clock.advance(checkout.container.settings.validation_cache_ttl_seconds - 1)

    response = checkout.post({"packageId": package_id})

    assert response.status_code == 200
    assert response.json()["cached"] is True
    assert response.json()["action"] == "proceed"
    assert checkout.upstream_calls() == 1


def test_past_expires_at_it_revalidates_although_the_item_is_still_in_the_table(checkout: Checkout) -> None:
    # given a cached validation
    package_id = checkout.active_ids()[2]
    checkout.post({"packageId": package_id})
    [(key, item)] = [(k, i) for k, i in checkout.cache_items().items() if package_id in k]
    expires_at = int(item["expires_at"]["N"])

    # when the clock reaches its expires_at, the item still being in the table
    checkout.clock.now = datetime.fromtimestamp(expires_at, UTC)
    assert key in checkout.cache_items()
    response = checkout.post({"packageId": package_id})

    # then Roamify is asked again
    assert response.json()["cached"] is False
    assert checkout.upstream_calls() == 2
    # and the answer is cached anew, an hour on
    renewed = int(checkout.cache_items()[key]["expires_at"]["N"])
    assert renewed == expires_at + checkout.container.settings.validation_cache_ttl_seconds


def test_after_the_cache_clear_route_the_next_validation_misses(checkout: Checkout) -> None:
    package_id = checkout.active_ids()[3]
    checkout.post({"packageId": package_id})
    assert checkout.post({"packageId": package_id}).json()["cached"] is True
    before = checkout.container.validation_cache.generation()

    cleared = checkout.clear()

    assert cleared.status_code == 200, cleared.text
    assert cleared.json() == {"status": "success", "generation": before + 1}
    response = checkout.post({"packageId": package_id})
    assert response.json()["cached"] is False
    assert checkout.upstream_calls() == 2


def test_after_the_cli_cache_clear_the_next_validation_misses_within_the_generation_lifetime(
    checkout: Checkout,
) -> None:
    # given a cached validation in the handlers' container
    package_id = checkout.active_ids()[4]
    checkout.post({"packageId": package_id})
    assert checkout.post({"packageId": package_id}).json()["cached"] is True
    before = checkout.container.validation_cache.generation()

    # when an operator clears the cache from the CLI, another process with its own container
    set_container(None)
    try:
        result = CliRunner().invoke(cli, ["cache", "clear", "--json"], catch_exceptions=False)
    finally:
        set_container(checkout.container)

    # then the CLI reports the new generation
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"status": "success", "generation": before + 1}
    # and once the handlers' copy of the generation is due (5 s), the next validation misses
    checkout.clock.advance(checkout.container.validation_cache.generation_lifetime_seconds)
    response = checkout.post({"packageId": package_id})
    assert response.json()["cached"] is False
    assert checkout.upstream_calls() == 2


def test_the_cli_cache_commands_have_help() -> None:
    for command in (["cache", "--help"], ["cache", "clear", "--help"]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 0
        assert "Usage:" in result.stdout


def _with_equivalent_alternative(catalog: dict[str, Package]) -> tuple[Package, str]:
    """An active package with at least one equivalent-or-better and one downgrade alternative."""
    active = [p for p in catalog.values() if p.status == "active"]
    for original in sorted(active, key=lambda p: p.reseller_id):
        destination = destination_of(original, None)
        if destination is None:
            continue
        candidates = [
            p for p in active if p.country_code == destination or p.region in (original.region, GLOBAL_REGION)
        ]
        ranked = rank_alternatives(original, candidates, destination, max_price_increase=0.10, limit=5)
        if ranked and ranked[0].equivalent_or_better and ranked[-1].downgrade:
            return original, destination
    raise AssertionError("the simulated catalog has no package with both kinds of alternatives")


def test_a_package_removed_upstream_is_blocked_with_alternatives_equivalent_or_better_first(
    checkout: Checkout,
) -> None:
    # given a package removed upstream and deactivated by the next sync
    original, destination = _with_equivalent_alternative(checkout.catalog())
    checkout.simulator.remove_packages([original.reseller_id])
    try:
        checkout.sync()
        assert checkout.catalog()[original.reseller_id].status == "inactive"

        # when it is validated
        syncs_calls = checkout.upstream_calls()
        response = checkout.post({"packageId": original.reseller_id})
        # (the catalog alone decides a block: Roamify is not asked)
        assert checkout.upstream_calls() == syncs_calls
    finally:
        checkout.simulator.restore_packages([original.reseller_id])
        checkout.sync()

    # then checkout is blocked with a 409
    assert response.status_code == 409, response.text
    body = response.json()
    assert (body["action"], body["valid"], body["reason"]) == ("block", False, "inactive")
    assert body["packageId"] == original.reseller_id
    # with at most five alternatives covering the destination, equivalent-or-better first, cheapest first
    alternatives = body["alternatives"]
    assert 1 <= len(alternatives) <= 5
    flags = [a["equivalentOrBetter"] for a in alternatives]
    assert flags[0] is True
    assert flags == sorted(flags, reverse=True)
    assert all(destination in a["coverage"] for a in alternatives)
    equivalent_prices = [a["price"] for a in alternatives if a["equivalentOrBetter"]]
    assert equivalent_prices == sorted(equivalent_prices)
    assert all(a["downgrade"] and a["reasons"] for a in alternatives if not a["equivalentOrBetter"])


def test_an_active_package_roamify_no_longer_lists_is_blocked_as_unknown_upstream(checkout: Checkout) -> None:
    package_id = checkout.active_ids()[5]
    checkout.simulator.remove_packages([package_id])
    try:
        response = checkout.post({"packageId": package_id})
    finally:
        checkout.simulator.restore_packages([package_id])

    assert response.status_code == 409
    assert response.json()["reason"] == "unknown_upstream"


def test_roamify_down_with_the_catalog_vouching_is_a_quick_warning_and_nothing_is_cached(
    checkout: Checkout,
) -> None:
    package_id = checkout.active_ids()[6]
    checkout.simulator.faults.outage = True
    before = checkout.cache_items()

    started = time.monotonic()
    response = checkout.post({"packageId": package_id})
    elapsed = time.monotonic() - started

    assert response.status_code == 200, response.text
    assert response.json() == {
        "action": "warn",
        "valid": True,
        "packageId": package_id,
        "reason": "upstream_unreachable",
        "alternatives": [],
        "cached": False,
    }
    assert checkout.upstream_calls() == 2  # the checkout budget: two attempts
    assert elapsed < 5
    assert checkout.cache_items() == before


def test_a_roamify_timeout_is_a_warning_within_the_budget(checkout: Checkout) -> None:
    package_id = checkout.active_ids()[7]
    checkout.simulator.faults.slow_seconds = 1.0  # the test container reads for 0.5 s

    response = checkout.post({"packageId": package_id})

    assert response.status_code == 200
    assert response.json()["reason"] == "upstream_unreachable"


def test_a_429_asking_for_a_long_wait_is_answered_as_a_warning_well_inside_the_functions_time(
    checkout: Checkout,
) -> None:
    # given Roamify rate-limiting every call with a Retry-After of 30 s (the function has 10 s)
    package_id = checkout.active_ids()[9]
    checkout.simulator.faults.rate_limit_remaining_429 = 10
    checkout.simulator.faults.retry_after_seconds = 30

    # when a package is validated
    started = time.monotonic()
    response = checkout.post({"packageId": package_id})
    elapsed = time.monotonic() - started

    # then the answer is the catalog-vouched warning, without waiting out what does not fit
    assert response.status_code == 200, response.text
    assert (response.json()["action"], response.json()["reason"]) == ("warn", "upstream_unreachable")
    assert elapsed < CHECKOUT_TIME_BUDGET_SECONDS - CHECKOUT_DEADLINE_MARGIN_SECONDS
    assert checkout.upstream_calls() == 1  # a second attempt would have had to wait 30 s first


def _validate_event(body: dict[str, Any]) -> dict[str, Any]:
    """The API Gateway proxy event for POST /api/checkout/validate (the authorizer already passed)."""
    return {
        "resource": VALIDATE,
        "path": VALIDATE,
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"stage": "local", "requestId": "req-slow", "httpMethod": "POST", "path": VALIDATE},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def test_slow_answers_come_back_as_a_warning_before_the_lambda_runs_out_of_time(checkout: Checkout) -> None:
    # given checkout's own Roamify timeouts (3 s reads, two attempts: over 6 s), an invocation with
    # only 4 s to live, and Roamify taking 5 s to answer anything
    settings = checkout.container.settings.model_copy(update={"roamify_read_timeout_seconds": 10.0})
    set_container(Container(settings, clock=checkout.clock))
    checkout.simulator.faults.slow_seconds = 5.0
    context = lambda_runtime.FakeLambdaContext("roamsync-checkout", timeout_seconds=4)
    package_id = checkout.active_ids()[10]

    # when a package is validated
    result = lambda_runtime.invoke(
        "CheckoutFunction", _validate_event({"packageId": package_id}), context=context
    )

    # then the warning is answered with time to spare
    assert context.get_remaining_time_in_millis() > 0
    assert result["statusCode"] == 200, result
    body = json.loads(result["body"])
    assert (body["action"], body["reason"]) == ("warn", "upstream_unreachable")


def test_a_sale_price_below_the_upstream_price_warns_of_a_negative_margin(checkout: Checkout) -> None:
    # given a shop row selling a package for less than Roamify now charges
    package_id = checkout.active_ids()[8]
    upstream_price = Decimal(str(checkout.simulator.get_package(package_id)["price"]))
    checkout.container.my_packages.save(
        MyPackage(
            id="shop-negative-margin",
            reseller_id=package_id,
            name="loss leader",
            country_code=checkout.catalog()[package_id].country_code,
            sale_price=upstream_price - Decimal("0.50"),
        )
    )

    response = checkout.post({"myPackageId": "shop-negative-margin"})

    assert response.status_code == 200, response.text
    assert response.json() == {
        "action": "warn",
        "valid": True,
        "packageId": package_id,
        "reason": "negative_margin",
        "alternatives": [],
        "cached": False,
        "myPackageId": "shop-negative-margin",
    }


@pytest.mark.parametrize(
    ("body", "data", "status", "code"),
    [
        ({}, None, 400, "invalid_request"),
        ({"packageId": "x", "myPackageId": "y"}, None, 400, "invalid_request"),
        ({"packageId": 123}, None, 400, "invalid_request"),
        ({"myPackageId": ["m1"]}, None, 400, "invalid_request"),
        ({"packageId": None}, None, 400, "invalid_request"),
        ({"packageId": "   "}, None, 400, "invalid_request"),
        ({"packageId": "x", "quantity": 1}, None, 400, "invalid_request"),
        (None, "{not json", 400, "malformed_json"),
        (None, "[]", 400, "invalid_request"),
        (None, "", 400, "invalid_request"),
        ({"packageId": "esim-no-such-package"}, None, 404, "not_found"),
        ({"myPackageId": "no-such-row"}, None, 404, "not_found"),
    ],
    ids=[
        "neither-id",
        "both-ids",
        "number-id",
        "list-id",
        "null-id",
        "blank-id",
        "unknown-field",
        "malformed-json",
        "not-an-object",
        "empty-body",
        "unknown-package",
        "unknown-my-package",
    ],
)
def test_bad_input_is_a_4xx_in_the_error_shape_with_nothing_cached_and_no_upstream_call(
    checkout: Checkout, body: Any, data: str | None, status: int, code: str
) -> None:
    before = checkout.cache_items()

    response = checkout.post(body, data=data)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.text
    assert checkout.cache_items() == before
    assert checkout.upstream_calls() == 0


@pytest.mark.parametrize(
    ("who", "status"), [(None, 401), ("admin", 403), ("not-a-token", 403)], ids=["none", "admin", "unknown"]
)
def test_validation_needs_the_client_token(checkout: Checkout, who: str | None, status: int) -> None:
    response = checkout.post({"packageId": checkout.active_ids()[0]}, who=who)

    assert response.status_code == status
    assert response.json()["error"]["code"] in ("unauthorized", "forbidden")
    assert checkout.upstream_calls() == 0


@pytest.mark.parametrize("who", ["client", "not-a-token"])
def test_the_cache_clear_needs_the_admin_token(checkout: Checkout, who: str) -> None:
    before = checkout.container.validation_cache.generation()

    response = checkout.clear(who)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    checkout.container.validation_cache.drop_process_copies(generation=True)
    assert checkout.container.validation_cache.generation() == before
