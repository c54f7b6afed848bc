"""`python -m roamsync_dev.bench_checkout`: what one checkout validation costs.

Not a test: it prints figures. A moto DynamoDB server and the Roamify simulator on loopback, one
process; the catalog is synced first, then the same validation is repeated in each scenario:

  in-process hit   the answer is in this container's memory
  table hit        the in-process copies are dropped before each request (the generation is kept,
                   as in a warm container; it is re-read every few seconds)
  miss, proceed    the cache is cleared before each request (the clear is not counted)
  miss, block      as above, for an active package Roamify no longer lists: the block also ranks
                   alternatives (Queries on the country and region indexes). Fewer requests by
                   default: moto answers a Query by scanning the whole table, slowly.

For each: DynamoDB calls per request by operation (botocore `before-parameter-build` hooks on the
clients of the three tables read), Roamify calls per request (the simulator's request counts) and
the in-process latency of `validate_checkout`, p50 and p99.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from roamsync.adapters.dynamo import MyPackageRepository, PackageRepository, RunRepository
from roamsync.adapters.dynamo_models import MyPackageItem, PackageItem, ValidationCacheItem, bind_models
from roamsync.adapters.roamify import RetryPolicy, RoamifyClient
from roamsync.adapters.validation_cache import ValidationCache
from roamsync.domain.runs import Trigger
from roamsync.services.catalog import GLOBAL_REGION, destination_of
from roamsync.services.checkout import CheckoutAnswer, validate_checkout
from roamsync.services.sync import run_sync
from roamsync.settings import Settings
from roamsync_dev.simulator import RoamifySimulator, start_server
from roamsync_dev.template import create_tables, load_template

REGION = "eu-west-1"
API_KEY = "bench"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Figures:
    requests: int = 0
    dynamodb: Counter[str] = field(default_factory=Counter)
    roamify: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    answer: str = ""
    items_read: int = 0  # items DynamoDB returned (GetItem hits, Query and Scan Counts)
    note: str = ""

    def per_request(self, count: float) -> str:
        return f"{count / self.requests:.2f}" if self.requests else "-"

    def ops(self) -> str:
        return " ".join(f"{op}={self.per_request(n)}" for op, n in sorted(self.dynamodb.items())) or "-"

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies_ms)
        if len(ordered) < 2:
            return ordered[0] if ordered else 0.0
        return statistics.quantiles(ordered, n=100, method="inclusive")[round(share * 100) - 1]


class DynamoCalls:
    """Counts DynamoDB API calls by operation, and the items they returned, on every client it is
    attached to (each once)."""

    def __init__(self) -> None:
        self.ops: Counter[str] = Counter()
        self.items_read = 0
        self._clients: set[int] = set()

    def __call__(self, model: Any, **_: Any) -> None:
        self.ops[model.name] += 1

    def returned(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in ("Query", "Scan"):
            self.items_read += int(parsed.get("Count", 0))
        elif model.name == "GetItem":
            self.items_read += int("Item" in parsed)
        elif model.name == "BatchGetItem":
            self.items_read += sum(len(items) for items in parsed.get("Responses", {}).values())

    def clear(self) -> None:
        self.ops.clear()
        self.items_read = 0

    def attach(self, client: Any) -> None:
        if id(client) not in self._clients:
            client.meta.events.register("before-parameter-build.dynamodb", self)
            client.meta.events.register("after-call.dynamodb", self.returned)
            self._clients.add(id(client))


def _scenario(
    name: str,
    *,
    requests: int,
    validate: Callable[[], CheckoutAnswer],
    before_each: Callable[[], None],
    calls: DynamoCalls,
    simulator: RoamifySimulator,
) -> Figures:
    figures = Figures()
    validate()  # warm: the first answer is cached, connections are open
    for _ in range(requests):
        before_each()
        calls.clear()
        simulator.reset_counts()
        started = time.perf_counter()
        answer = validate()
        figures.latencies_ms.append((time.perf_counter() - started) * 1000)
        figures.requests += 1
        figures.dynamodb.update(calls.ops)
        figures.items_read += calls.items_read
        figures.roamify += sum(simulator.request_counts.values())
        figures.answer = f"{answer.action}{' ' + answer.reason if answer.reason else ''}" + (
            " (cached)" if answer.cached else ""
        )
    print(f"  {name}: {requests} requests done", file=sys.stderr, flush=True)
    return figures


def run(size: int, requests: int, block_requests: int, endpoint: str) -> dict[str, Figures]:
    tables = {
        "PackagesTable": "bench-checkout-packages",
        "MyPackagesTable": "bench-checkout-my-packages",
        "ValidationCacheTable": "bench-checkout-cache",
        "RunsTable": "bench-checkout-runs",
        "OrdersTable": "bench-checkout-orders",
    }
    create_tables(
        boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint), load_template(), tables
    )
    simulator = RoamifySimulator(size=size, seed=7, api_key=API_KEY)
    server = start_server(simulator, port=0)
    try:
        settings = Settings(
            packages_table=tables["PackagesTable"],
            my_packages_table=tables["MyPackagesTable"],
            validation_cache_table=tables["ValidationCacheTable"],
            runs_table=tables["RunsTable"],
            orders_table=tables["OrdersTable"],
            aws_region=REGION,
            aws_endpoint_url_dynamodb=endpoint,
            roamify_base_url=server.url,
            roamify_api_key=API_KEY,
        )
        bind_models(settings)
        roamify = RoamifyClient(server.url, API_KEY, read_timeout=3.0, retry=RetryPolicy(2, 0.01, 0.05))
        packages, my_packages = PackageRepository(), MyPackageRepository()
        outcome = run_sync(
            source=roamify,
            packages=packages,
            runs=RunRepository(),
            clock=utc_now,
            max_deactivation_ratio=settings.sync_max_deactivation_ratio,
            trigger=Trigger.CLI,
        )
        if outcome.run.status.value != "succeeded":
            raise SystemExit(f"benchmark sync did not succeed: {outcome.run.summary()}")

        catalog = packages.load_all()
        local = sorted(
            p.reseller_id
            for p in catalog.values()
            if p.geography == "local" and destination_of(p, None) is not None
        )
        sellable, gone = local[0], local[1]
        regions = {catalog[gone].region, GLOBAL_REGION}
        in_regions = [p for p in catalog.values() if p.region in regions]
        spanning = sum(p.spans_beyond_its_country for p in in_regions)
        index_note = (
            f"its region Queries ({', '.join(sorted(regions))}) returned the {spanning} packages there "
            f"that cover more than their own country; an index on region alone would return all "
            f"{len(in_regions)}."
        )
        simulator.remove_packages([gone])  # still active in the catalog, unknown upstream

        calls = DynamoCalls()
        for model in (PackageItem, MyPackageItem, ValidationCacheItem):
            calls.attach(model._get_connection().connection.client)
        cache = ValidationCache(clock=utc_now)

        def validate(package_id: str) -> Callable[[], CheckoutAnswer]:
            return lambda: validate_checkout(
                my_package_id=None,
                package_id=package_id,
                packages=packages,
                my_packages=my_packages,
                confirm_upstream=roamify.package_nodes,
                cache=cache,
                clock=utc_now,
                cache_ttl_seconds=settings.validation_cache_ttl_seconds,
                max_price_increase=settings.fallback_max_price_increase,
            )

        def nothing() -> None:
            return None

        def clear() -> None:
            cache.clear()

        scenarios: list[tuple[str, int, str, Callable[[], None]]] = [
            ("in-process hit", requests, sellable, nothing),
            ("table hit", requests, sellable, cache.drop_process_copies),
            ("miss, proceed", requests, sellable, clear),
            ("miss, block", block_requests, gone, clear),
        ]
        results = {
            name: _scenario(
                name,
                requests=count,
                validate=validate(package_id),
                before_each=before_each,
                calls=calls,
                simulator=simulator,
            )
            for name, count, package_id, before_each in scenarios
        }
        results["miss, block"].note = index_note
        return results
    finally:
        server.stop()


def report(size: int, results: dict[str, Figures]) -> str:
    lines = [
        f"roamsync checkout validation benchmark: {size}-package catalog,",
        "moto DynamoDB server + Roamify simulator on loopback, one process "
        f"(taken {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"{'scenario':<15} {'requests':>8} {'answer':<24} {'DynamoDB/req':>12} {'items/req':>9} "
        f"{'Roamify/req':>11} {'p50 ms':>7} {'p99 ms':>7}  DynamoDB by operation, per request",
    ]
    for name, f in results.items():
        lines.append(
            f"{name:<15} {f.requests:>8} {f.answer:<24} {f.per_request(sum(f.dynamodb.values())):>12} "
            f"{f.per_request(f.items_read):>9} {f.per_request(f.roamify):>11} "
            f"{f.percentile(0.50):>7.2f} {f.percentile(0.99):>7.2f}  {f.ops()}"
        )
    lines += [
        "",
        *(f"{name}: {f.note}" for name, f in results.items() if f.note),
        "By myPackageId each request also reads the shop row: one more GetItem.",
        "The catalog is read on every request by design; the cache saves Roamify and the ranking.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=500, help="packages in the simulated catalog")
    parser.add_argument("--requests", type=int, default=300, help="requests per scenario")
    parser.add_argument("--block-requests", type=int, default=40, help="requests of the block scenario")
    args = parser.parse_args(argv)

    from roamsync_dev.local_stack import start_embedded_dynamodb

    os.environ.setdefault("AWS_ACCESS_KEY_ID", API_KEY)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", API_KEY)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # the figures, not every validation's log line
    server, endpoint = start_embedded_dynamodb()
    try:
        # Metrics print EMF lines on stdout (single_metric ignores POWERTOOLS_METRICS_DISABLED): not here.
        with contextlib.redirect_stdout(io.StringIO()):
            results = run(args.size, args.requests, args.block_requests, endpoint)
    finally:
        server.stop()
    print(report(args.size, results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
