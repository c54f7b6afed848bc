"""`python -m roamsync_dev.bench_orders`: what order placement costs when Roamify answers 500s.

Not a test: it prints figures. A moto DynamoDB server and the Roamify simulator run on loopback,
in this process; every order goes through the Orders function's handler (an API Gateway proxy
event, as the local gateway sends it) with the default settings. For each share of injected
upstream 500s (the simulator's `random_500_rate`, which hits every Roamify request: creates,
lookups and package checks alike) it places N orders, each under its own Idempotency-Key, and
reports:

  outcomes       PLACED / UNKNOWN (202) / FAILED (503, nothing ordered) / refused by the open breaker
  attempts       upstream order creations per order (mean, max), and Roamify requests per order
  time           wall time per order, p50 and p99
  duplicates     upstream orders beyond the first for one order request (must be 0)
  reconciled     the UNKNOWN ones read back with GET once the 500s stop: placed / not placed

Then, as a check, the same keys are sent again: every one must answer the order it already has.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import time
import uuid
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from roamsync.container import Container, set_container, sync_catalog
from roamsync.domain.packages import Package
from roamsync.domain.runs import Trigger
from roamsync.observability import log_to
from roamsync.settings import Settings
from roamsync_dev import lambda_runtime
from roamsync_dev.simulator import RoamifySimulator, start_server
from roamsync_dev.template import create_tables, load_template

REGION = "eu-west-1"
API_KEY = "bench"
FUNCTION = "OrdersFunction"
TABLES = {
    "PackagesTable": "bench-orders-packages",
    "MyPackagesTable": "bench-orders-my-packages",
    "ValidationCacheTable": "bench-orders-validation-cache",
    "RunsTable": "bench-orders-runs",
    "OrdersTable": "bench-orders-orders",
}


@dataclass
class Scenario:
    rate: float
    statuses: Counter[str] = field(default_factory=Counter)  # HTTP status → count
    outcomes: Counter[str] = field(default_factory=Counter)
    attempts: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    roamify_requests: int = 0
    upstream_orders: int = 0
    duplicates: int = 0
    reconciled: Counter[str] = field(default_factory=Counter)
    replays_consistent: bool = True

    def percentile(self, share: float) -> float:
        ordered = sorted(self.seconds)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] * 1000


def proxy_event(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """An API Gateway REST proxy event, as the local gateway builds one (authorizer already passed)."""
    resource = "/api/orders/{orderId}" if path.count("/") > 2 else path
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "pathParameters": {"orderId": path.rsplit("/", 1)[1]} if resource != path else None,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": "bench",
            "httpMethod": method,
            "resourcePath": resource,
            "authorizer": {"principalId": "client", "role": "client"},
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def invoke(method: str, path: str, body: Any = None, key: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Idempotency-Key": key} if key else {}
    result = lambda_runtime.invoke(FUNCTION, proxy_event(method, path, body, headers))
    return int(result["statusCode"]), json.loads(result["body"] or "{}")


def order_of(reference_id: str | None) -> str:
    # referenceId is f"{orderId}-a{n}": one order request, several attempts.
    return (reference_id or "").rsplit("-a", 1)[0]


def stored_orders(endpoint: str) -> dict[str, dict[str, Any]]:
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    records: dict[str, dict[str, Any]] = {}
    for page in client.get_paginator("scan").paginate(TableName=TABLES["OrdersTable"]):
        for item in page["Items"]:
            records[item["order_id"]["S"]] = json.loads(item["record"]["S"])
    return records


def settings_for(endpoint: str, roamify_url: str, breaker_threshold: int | None) -> Settings:
    values: dict[str, Any] = {
        "packages_table": TABLES["PackagesTable"],
        "my_packages_table": TABLES["MyPackagesTable"],
        "validation_cache_table": TABLES["ValidationCacheTable"],
        "runs_table": TABLES["RunsTable"],
        "orders_table": TABLES["OrdersTable"],
        "aws_region": REGION,
        "aws_endpoint_url_dynamodb": endpoint,
        "roamify_base_url": roamify_url,
        "roamify_api_key": API_KEY,
    }
    if breaker_threshold is not None:
        values["order_breaker_failure_threshold"] = breaker_threshold
    return Settings.model_validate(values)


def orderable(container: Container) -> list[Package]:
    """Active single-country packages, in a fixed order: what the orders cycle through."""
    return orderable_from(container.packages.load_all())


def orderable_from(catalog: dict[str, Package]) -> list[Package]:
    """`orderable` over a catalog already read."""
    return sorted(
        (p for p in catalog.values() if p.status == "active" and p.geography == "local"),
        key=lambda p: p.reseller_id,
    )


def run_scenario(
    sim: RoamifySimulator,
    settings: Settings,
    packages: list[Package],
    *,
    rate: float,
    orders: int,
    endpoint: str,
) -> Scenario:
    scenario = Scenario(rate=rate)
    # A fresh container per scenario: a fresh circuit breaker, as a fresh Lambda container has.
    set_container(Container(settings))
    sim.reset_faults()
    sim.faults.random_500_rate = rate
    sim.reset_counts()
    first_order = len(sim.orders)
    prefix = f"bench-{int(rate * 100)}-{uuid.uuid4().hex[:8]}"
    replies: dict[str, tuple[int, dict[str, Any]]] = {}
    for i in range(orders):
        key = f"{prefix}-{i}"
        body = {"packageId": packages[i % len(packages)].reseller_id, "quantity": 1}
        started = time.perf_counter()
        status, reply = invoke("POST", "/api/orders", body, key)
        scenario.seconds.append(time.perf_counter() - started)
        scenario.statuses[str(status)] += 1
        replies[key] = (status, reply)
    scenario.roamify_requests = sum(sim.request_counts.values())

    records = stored_orders(endpoint)
    # A reply names its order (an error reply inside "error"); one refused by the open breaker has none.
    order_ids = [
        reply.get("orderId") or reply.get("error", {}).get("orderId") for _, reply in replies.values()
    ]
    for order_id in order_ids:
        if order_id is None:
            scenario.outcomes["REFUSED (breaker open)"] += 1
            continue
        record = records[order_id]
        scenario.outcomes[record["status"]] += 1
        scenario.attempts.append(len(record["attempts"]))

    created = sim.orders[first_order:]
    scenario.upstream_orders = len(created)
    per_order = Counter(order_of(o["referenceId"]) for o in created)
    scenario.duplicates = sum(n - 1 for n in per_order.values() if n > 1)

    # Roamify recovers and the UNKNOWN orders are read back later (by a container whose breaker
    # is closed), which reconciles them by lookup.
    sim.reset_faults()
    set_container(Container(settings))
    for order_id in order_ids:
        if order_id is not None and records[order_id]["status"] == "UNKNOWN":
            _, read = invoke("GET", f"/api/orders/{order_id}")
            scenario.reconciled[read["status"]] += 1
    # Every key again: each must answer the order it has, and place nothing.
    before = len(sim.orders)
    for key, (status, reply) in replies.items():
        if status in (201, 200):
            body = {"packageId": reply["originalPackageId"], "quantity": 1}
            again_status, again = invoke("POST", "/api/orders", body, key)
            if again_status != 200 or again != reply:
                scenario.replays_consistent = False
    if len(sim.orders) != before:
        scenario.replays_consistent = False
    return scenario


def report(orders: int, size: int, results: list[tuple[str, list[Scenario]]]) -> str:
    lines = [
        f"roamsync order placement benchmark: {orders} orders per row through the Orders handler; "
        f"{size}-package Roamify simulator and moto DynamoDB server on loopback",
        f"taken {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; injected 500s hit every Roamify call "
        "(creates, lookups, package checks)",
    ]
    header = (
        f"{'500s':>5} {'placed':>6} {'unknown':>7} {'failed':>6} {'refused':>7} "
        f"{'attempts mean/max':>17} {'roamify req/order':>17} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'upstream orders':>15} {'duplicates':>10}  UNKNOWN reconciled later"
    )
    for label, scenarios in results:
        lines += ["", label, header]
        for s in scenarios:
            mean = statistics.fmean(s.attempts) if s.attempts else 0.0
            reconciled = ", ".join(f"{k} {v}" for k, v in sorted(s.reconciled.items())) or "-"
            lines.append(
                f"{s.rate:>5.0%} {s.outcomes['PLACED']:>6} {s.outcomes['UNKNOWN']:>7} "
                f"{s.outcomes['FAILED']:>6} {s.outcomes['REFUSED (breaker open)']:>7} "
                f"{mean:>11.2f} / {max(s.attempts, default=0):<3} {s.roamify_requests / orders:>17.2f} "
                f"{s.percentile(0.5):>7.1f} {s.percentile(0.99):>7.1f} {s.upstream_orders:>15} "
                f"{s.duplicates:>10}  {reconciled}"
            )
        lines.append(
            "HTTP: "
            + "; ".join(
                f"{s.rate:.0%} " + " ".join(f"{k}x{v}" for k, v in sorted(s.statuses.items()))
                for s in scenarios
            )
        )
    consistent = all(s.replays_consistent for _, runs in results for s in runs)
    lines += [
        "",
        "placed = 201; unknown = 202 (Roamify could not say; GET reconciles); failed = 503 with nothing "
        "ordered (the same key retries); refused = 503 at once, breaker open, no record written.",
        "every key sent again: "
        + ("each answered 200 with its order, nothing placed" if consistent else "MISMATCH"),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=200, help="orders per scenario")
    parser.add_argument("--size", type=int, default=300, help="simulator catalog size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rates", default="0,0.2,0.5", help="shares of injected upstream 500s")
    parser.add_argument("--breaker-threshold", type=int, default=None, help="override the default")
    args = parser.parse_args(argv)

    from roamsync_dev.local_stack import start_embedded_dynamodb

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # the figures, not every order's log lines
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
    server, endpoint = start_embedded_dynamodb()
    sim = RoamifySimulator(size=args.size, seed=args.seed, api_key=API_KEY)
    sim_server = start_server(sim, port=0)
    results: list[tuple[str, list[Scenario]]] = []
    try:
        create_tables(
            boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint), load_template(), TABLES
        )
        settings = settings_for(endpoint, sim_server.url, args.breaker_threshold)
        container = Container(settings)
        set_container(container)
        sync_catalog(container, Trigger.CLI)
        packages = orderable(container)
        rates = [float(r) for r in args.rates.split(",")]
        # EMF metric lines and logs go to stdout in Lambda; here they would bury the figures.
        log_to(io.StringIO())
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Powertools: "no application metrics to publish"
            # Warm up (imports, connections) so the first row does not pay for a cold start.
            run_scenario(sim, settings, packages, rate=0.0, orders=10, endpoint=endpoint)
            for label, threshold in passes(settings, args.breaker_threshold):
                pass_settings = settings_for(endpoint, sim_server.url, threshold)
                runs = [
                    run_scenario(sim, pass_settings, packages, rate=r, orders=args.orders, endpoint=endpoint)
                    for r in rates
                ]
                results.append((label, runs))
    finally:
        set_container(None)
        sim_server.stop()
        server.stop()
    print(report(args.orders, args.size, results))
    return 0 if all(s.duplicates == 0 and s.replays_consistent for _, runs in results for s in runs) else 1


def passes(settings: Settings, threshold: int | None) -> list[tuple[str, int]]:
    """The default breaker, and (unless one was asked for) one that never opens: at 50% 500s the
    default opens, by design, so only the second pass shows the retry-and-lookup discipline alone."""
    default = settings.order_breaker_failure_threshold
    if threshold is not None:
        return [(f"circuit breaker opens after {threshold} consecutive upstream failures", threshold)]
    return [
        (
            f"default settings: the circuit breaker opens after {default} consecutive upstream failures",
            default,
        ),
        ("the same with the circuit breaker kept closed (threshold 1,000,000)", 1_000_000),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
