"""`make bench`: what a sync costs, against the naive delete-everything-then-put baseline.

Not a test: it prints figures. Runs against a moto DynamoDB server and the Roamify simulator on
loopback, in one process, on the same data for both approaches:

  first sync    empty table, N packages upstream
  no-op resync  nothing changed upstream
  1% changed    prices of 1% of the packages moved

For each: DynamoDB requests by operation (both tables: roamsync also writes its run record),
package items written, Roamify requests, wall time and peak
traced Python memory (tracemalloc, measured in a second, identical pass so it does not slow the
timed one).
"""

from __future__ import annotations

import argparse
import functools
import os
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from roamsync.adapters.dynamo import PackageRepository, RunRepository, package_to_item
from roamsync.adapters.dynamo_models import PackageItem, RunItem, bind_models
from roamsync.adapters.roamify import RetryPolicy, RoamifyClient
from roamsync.domain.packages import NormalisedCatalog, normalise_nodes
from roamsync.domain.runs import Trigger
from roamsync.services.sync import run_sync
from roamsync.settings import Settings
from roamsync_dev.simulator import RoamifySimulator, start_server
from roamsync_dev.template import create_tables, load_template

REGION = "eu-west-1"
SCENARIOS = ("first sync", "no-op resync", "1% changed")


@dataclass
class Figures:
    dynamodb: Counter[str] = field(default_factory=Counter)
    items_written: int = 0
    roamify_requests: int = 0
    seconds: float = 0.0
    peak_mib: float = 0.0

    def ops(self) -> str:
        return " ".join(f"{op}={n}" for op, n in sorted(self.dynamodb.items())) or "-"


class RequestCounter:
    """Counts DynamoDB API calls by operation, and package items written, via botocore's hooks."""

    def __init__(self, packages_table: str) -> None:
        self.packages_table = packages_table
        self.ops: Counter[str] = Counter()
        self.items_written = 0

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.ops[model.name] += 1
        if model.name == "BatchWriteItem":
            requests = params.get("RequestItems", {}).get(self.packages_table, [])
            self.items_written += sum(1 for r in requests if "PutRequest" in r)
        elif model.name in ("PutItem", "UpdateItem") and params.get("TableName") == self.packages_table:
            self.items_written += 1

    def attach(self, client: Any) -> None:
        # before-parameter-build sees the API parameters (RequestItems…), once per call.
        client.meta.events.register("before-parameter-build.dynamodb", self)

    def reset(self) -> None:
        self.ops.clear()
        self.items_written = 0


def roamsync_sync(
    client: RoamifyClient, repo: PackageRepository, runs: RunRepository, settings: Settings
) -> None:
    outcome = run_sync(
        source=client,
        packages=repo,
        runs=runs,
        clock=lambda: datetime.now(UTC),
        max_deactivation_ratio=settings.sync_max_deactivation_ratio,
        page_size=settings.roamify_page_size,
        trigger=Trigger.CLI,
    )
    if outcome.run.status.value != "succeeded":
        raise SystemExit(f"benchmark sync did not succeed: {outcome.run.summary()}")


def naive_sync(client: RoamifyClient, dynamodb: Any, table_name: str) -> None:
    """The replaced system: fetch, delete every stored package one by one, put every package."""
    catalog = NormalisedCatalog()
    for page in client.iter_catalog_pages():
        normalise_nodes(page.nodes, catalog)
    scan: dict[str, Any] = {"TableName": table_name, "ProjectionExpression": "reseller_id"}
    keys: list[Any] = []
    while True:
        response = dynamodb.scan(**scan)
        keys.extend(item["reseller_id"] for item in response["Items"])
        if "LastEvaluatedKey" not in response:
            break
        scan["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    for key in keys:
        dynamodb.delete_item(TableName=table_name, Key={"reseller_id": key})
    for package in catalog.packages.values():
        dynamodb.put_item(TableName=table_name, Item=package_to_item(package).serialize())


def run_pass(size: int, seed: int, endpoint: str, *, measure_memory: bool) -> dict[str, dict[str, Figures]]:
    results: dict[str, dict[str, Figures]] = {"roamsync": {}, "naive": {}}
    for approach in ("roamsync", "naive"):
        tables = {
            "PackagesTable": f"bench-{approach}-{int(measure_memory)}-packages",
            "MyPackagesTable": f"bench-{approach}-{int(measure_memory)}-my",
            "ValidationCacheTable": f"bench-{approach}-{int(measure_memory)}-cache",
            "RunsTable": f"bench-{approach}-{int(measure_memory)}-runs",
            "OrdersTable": f"bench-{approach}-{int(measure_memory)}-orders",
        }
        create_tables(
            boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint), load_template(), tables
        )
        sim = RoamifySimulator(size=size, seed=seed, api_key="bench")
        server = start_server(sim, port=0)
        try:
            settings = Settings(
                packages_table=tables["PackagesTable"],
                runs_table=tables["RunsTable"],
                aws_region=REGION,
                aws_endpoint_url_dynamodb=endpoint,
                roamify_base_url=server.url,
                roamify_api_key="bench",
            )
            bind_models(settings)
            counter = RequestCounter(tables["PackagesTable"])
            counter.attach(PackageItem._get_connection().connection.client)
            counter.attach(RunItem._get_connection().connection.client)
            client = RoamifyClient(server.url, "bench", retry=RetryPolicy(2, 0.01, 0.05))
            repo, runs = PackageRepository(), RunRepository()
            dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
            counter.attach(dynamodb)
            step: Callable[[], None] = (
                functools.partial(roamsync_sync, client, repo, runs, settings)
                if approach == "roamsync"
                else functools.partial(naive_sync, client, dynamodb, tables["PackagesTable"])
            )
            for scenario in SCENARIOS:
                if scenario == "1% changed":
                    ids = sim.package_ids()
                    sim.change_prices(
                        ids[:: max(1, len(ids) // max(1, size // 100))][: size // 100], delta=0.5
                    )
                counter.reset()
                sim.reset_counts()
                figures = Figures()
                if measure_memory:
                    tracemalloc.start()
                started = time.perf_counter()
                step()
                figures.seconds = time.perf_counter() - started
                if measure_memory:
                    figures.peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
                    tracemalloc.stop()
                figures.dynamodb = Counter(counter.ops)
                figures.items_written = counter.items_written
                figures.roamify_requests = sum(sim.request_counts.values())
                results[approach][scenario] = figures
        finally:
            server.stop()
    return results


def report(size: int, timed: dict[str, dict[str, Figures]], memory: dict[str, dict[str, Figures]]) -> str:
    lines = [
        f"roamsync sync benchmark: {size} packages, moto DynamoDB server + Roamify simulator on loopback",
        f"taken {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"{'scenario':<14} {'approach':<9} {'pkg items written':>17} {'roamify req':>11} {'seconds':>8} "
        f"{'peak MiB':>8}  DynamoDB requests",
    ]
    for scenario in SCENARIOS:
        for approach in ("roamsync", "naive"):
            f = timed[approach][scenario]
            m = memory[approach][scenario]
            lines.append(
                f"{scenario:<14} {approach:<9} {f.items_written:>17} {f.roamify_requests:>11} "
                f"{f.seconds:>8.2f} {m.peak_mib:>8.1f}  {f.ops()}"
            )
        ours, base = timed["roamsync"][scenario], timed["naive"][scenario]
        writes = f"{ours.items_written} vs {base.items_written}"
        if ours.items_written and base.items_written != ours.items_written:
            writes += f" ({base.items_written / ours.items_written:.0f}x fewer)"
        lines.append(
            f"{'':<14} ratio     package items written: {writes}; DynamoDB requests: "
            f"{sum(ours.dynamodb.values())} vs {sum(base.dynamodb.values())}; "
            f"time: {ours.seconds / base.seconds:.2f} of naive"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from roamsync_dev.local_stack import start_embedded_dynamodb

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # the figures, not every run's log lines
    server, endpoint = start_embedded_dynamodb()
    try:
        timed = run_pass(args.size, args.seed, endpoint, measure_memory=False)
        memory = run_pass(args.size, args.seed, endpoint, measure_memory=True)
    finally:
        server.stop()
    print(report(args.size, timed, memory))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
