"""`make bench`: what a sync costs, against the naive delete-everything-then-put baseline.

Not a test: it prints figures. Three processes, so that each figure belongs to the code it names:

- a moto DynamoDB server in a process of its own (its storage and its CPU are not the sync's);
- the Roamify simulator, served from this process, which also resets and changes its catalog;
- each sync step in a fresh process (spawned, one step per process), which measures itself.

On the same data for both approaches, in this order:

  first sync    empty table, N packages upstream
  no-op resync  nothing changed upstream
  1% changed    prices of 1% of the packages moved

For each step: DynamoDB requests by operation (both tables: roamsync also writes its run record),
package items written, Roamify requests, wall time, and the step process's peak resident memory
(what Lambda reports as "Max Memory Used"), with its growth over the process's memory just before
the step (imports done, clients built).
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import resource
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

REGION = "eu-west-1"
SCENARIOS = ("first sync", "no-op resync", "1% changed")
RUN_COUNTS = ("fetched", "inserted", "updated", "unchanged", "deactivated", "reactivated", "skipped", "pages")
APPROACHES = ("roamsync", "naive")


@dataclass
class Figures:
    dynamodb: Counter[str] = field(default_factory=Counter)
    items_written: int = 0
    roamify_requests: int = 0
    seconds: float = 0.0
    peak_mib: float = 0.0  # the step process's peak resident set
    growth_mib: float = 0.0  # that peak less the resident set just before the step
    run_counts: dict[str, int] = field(default_factory=dict)  # roamsync's run record (naive: none)

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


def _resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_resident_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def roamsync_sync(client: Any, repo: Any, runs: Any, settings: Any) -> dict[str, int]:
    from roamsync.domain.runs import Trigger
    from roamsync.services.sync import run_sync

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
    return dict(outcome.run.counts)


def naive_sync(client: Any, dynamodb: Any, table_name: str) -> dict[str, int]:
    """The replaced system: fetch, delete every stored package one by one, put every package.
    It keeps no run record: the counts it returns are empty."""
    from roamsync.adapters.dynamo import package_to_item
    from roamsync.domain.packages import NormalisedCatalog, normalise_nodes

    catalog = NormalisedCatalog()
    for page in client.iter_catalog_pages():
        normalise_nodes(page.nodes, catalog, page=page.number)
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
    return {}


def run_step(approach: str, tables: dict[str, str], endpoint: str, roamify_url: str) -> Figures:
    """One sync step, in a process of its own: build the clients, then time and measure the step."""
    import boto3

    from roamsync.adapters.dynamo import PackageRepository, RunRepository
    from roamsync.adapters.dynamo_models import PackageItem, RunItem, bind_models
    from roamsync.adapters.roamify import RetryPolicy, RoamifyClient
    from roamsync.settings import Settings

    settings = Settings(
        packages_table=tables["PackagesTable"],
        runs_table=tables["RunsTable"],
        aws_region=REGION,
        aws_endpoint_url_dynamodb=endpoint,
        roamify_base_url=roamify_url,
        roamify_api_key="bench",
    )
    bind_models(settings)
    counter = RequestCounter(tables["PackagesTable"])
    counter.attach(PackageItem._get_connection().connection.client)
    counter.attach(RunItem._get_connection().connection.client)
    client = RoamifyClient(
        roamify_url,
        "bench",
        retry=RetryPolicy(2, 0.01, 0.05),
        page_concurrency=settings.roamify_page_concurrency,
    )
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    counter.attach(dynamodb)
    step: Callable[[], dict[str, int]] = (
        functools.partial(roamsync_sync, client, PackageRepository(), RunRepository(), settings)
        if approach == "roamsync"
        else functools.partial(naive_sync, client, dynamodb, tables["PackagesTable"])
    )
    before = _resident_mib()
    started = time.perf_counter()
    counts = step()
    seconds = time.perf_counter() - started
    peak = _peak_resident_mib()
    return Figures(
        dynamodb=Counter(counter.ops),
        items_written=counter.items_written,
        seconds=seconds,
        peak_mib=peak,
        growth_mib=max(0.0, peak - before),
        run_counts=counts,
    )


def serve_dynamodb(endpoints: Any) -> None:
    """The moto server's process: start it, say where, then serve until terminated."""
    from roamsync_dev.local_stack import start_embedded_dynamodb

    _server, endpoint = start_embedded_dynamodb()
    endpoints.put(endpoint)
    while True:
        time.sleep(3600)


def run_all(
    size: int, seed: int, endpoint: str, spawn: Any, approaches: tuple[str, ...] = APPROACHES
) -> dict[str, dict[str, Figures]]:
    import boto3

    from roamsync_dev.simulator import RoamifySimulator, start_server
    from roamsync_dev.template import create_tables, load_template

    results: dict[str, dict[str, Figures]] = {approach: {} for approach in approaches}
    for approach in approaches:
        tables = {
            "PackagesTable": f"bench-{approach}-packages",
            "MyPackagesTable": f"bench-{approach}-my",
            "ValidationCacheTable": f"bench-{approach}-cache",
            "RunsTable": f"bench-{approach}-runs",
            "OrdersTable": f"bench-{approach}-orders",
        }
        create_tables(
            boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint), load_template(), tables
        )
        sim = RoamifySimulator(size=size, seed=seed, api_key="bench")
        server = start_server(sim, port=0)
        try:
            for scenario in SCENARIOS:
                if scenario == "1% changed":
                    ids = sim.package_ids()
                    sim.change_prices(
                        ids[:: max(1, len(ids) // max(1, size // 100))][: size // 100], delta=0.5
                    )
                sim.reset_counts()
                with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
                    figures = pool.submit(run_step, approach, tables, endpoint, server.url).result()
                figures.roamify_requests = sum(sim.request_counts.values())
                results[approach][scenario] = figures
                print(f"  {approach:<9} {scenario:<13} {figures.seconds:8.2f} s", flush=True)
        finally:
            server.stop()
    return results


def report(size: int, results: dict[str, dict[str, Figures]]) -> str:
    lines = [
        f"roamsync sync benchmark: {size} packages; moto DynamoDB server (own process) + Roamify simulator",
        f"on loopback; each step in a fresh process; taken {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"{'scenario':<14} {'approach':<9} {'pkg items written':>17} {'roamify req':>11} {'seconds':>8} "
        f"{'peak MiB':>8} {'+MiB':>6}  DynamoDB requests",
    ]
    for scenario in SCENARIOS:
        for approach in APPROACHES:
            f = results[approach][scenario]
            lines.append(
                f"{scenario:<14} {approach:<9} {f.items_written:>17} {f.roamify_requests:>11} "
                f"{f.seconds:>8.2f} {f.peak_mib:>8.1f} {f.growth_mib:>6.1f}  {f.ops()}"
            )
        ours, base = results["roamsync"][scenario], results["naive"][scenario]
        writes = f"{ours.items_written} vs {base.items_written}"
        if ours.items_written and base.items_written != ours.items_written:
            writes += f" ({base.items_written / ours.items_written:.0f}x fewer)"
        lines.append(
            f"{'':<14} ratio     package items written: {writes}; DynamoDB requests: "
            f"{sum(ours.dynamodb.values())} vs {sum(base.dynamodb.values())}; "
            f"time: {ours.seconds / base.seconds:.2f} of naive"
        )
    return "\n".join([*lines, "", run_record_report(results)])


def run_record_report(results: dict[str, dict[str, Figures]]) -> str:
    lines = ["roamsync's run records (what each sync decided):"]
    for scenario in SCENARIOS:
        counts = results["roamsync"][scenario].run_counts
        decided = ", ".join(f"{k} {counts[k]}" for k in RUN_COUNTS if k in counts)
        lines.append(f"  {scenario:<14} {decided}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--roamsync-only", action="store_true", help="skip the naive baseline (no comparison printed)"
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # the figures, not every run's log lines
    spawn = multiprocessing.get_context("spawn")
    endpoints = spawn.Queue()
    dynamodb = spawn.Process(target=serve_dynamodb, args=(endpoints,), daemon=True)
    dynamodb.start()
    try:
        endpoint = endpoints.get(timeout=60)
        print(f"sync benchmark, {args.size} packages: DynamoDB at {endpoint}", flush=True)
        approaches = ("roamsync",) if args.roamsync_only else APPROACHES
        results = run_all(args.size, args.seed, endpoint, spawn, approaches)
    finally:
        dynamodb.terminate()
        dynamodb.join(timeout=10)
    print()
    if args.roamsync_only:
        for scenario in SCENARIOS:
            f = results["roamsync"][scenario]
            print(
                f"{scenario:<14} items written {f.items_written}, peak {f.peak_mib:.1f} MiB "
                f"(+{f.growth_mib:.1f}), {f.ops()}"
            )
        print(run_record_report(results))
        return 0
    print(report(args.size, results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
