"""`python -m roamsync_dev.soak_orders`: many orders through the Orders handler while Roamify fails.

Not a test (`tests/performance/test_order_soak.py` runs a quick version in CI): it prints figures and
checks invariants against the Roamify simulator's order log, the witness of what Roamify really
created:

  0 duplicates   no Idempotency-Key's order has more than one upstream order
  0 downgrades   every upstream order's package is the one requested, or one equivalent-or-better
                 for the customer's country (roamsync.domain.equivalence)
  0 overpriced   no order answered as placed was charged more than the bound (the original's synced
                 price plus FALLBACK_MAX_PRICE_INCREASE, per eSIM)
  no 5xx         but a deliberate 503 with Retry-After

Faults: `--random-500` of *every* Roamify call (creates, lookups, package checks) answer Roamify's
own 500 before doing anything, `--create-500` of order creations likewise, `--after-commit-500` of
creations create the order and then answer 500, `--cut` of creation answers are cut off mid-body at
the socket after the order was created; a faulted creation's order is visible to lookups only
`--late-visible` seconds later (a late commit). `--gone` of the packages ordered have disappeared
from Roamify while the catalog table still lists them (their orders take a fallback), and the
stand-in each of them would take has its price raised live above the bound (`--price-moves`),
so it must not be bought. A share of the keys (`--twice`) are sent twice at the same moment from
two threads; the rest go through a pool of `--workers` threads. Each order is an API Gateway proxy
event to the handler, in process.

Figures: the share of orders placed (201) with its 95% Wilson interval, over the orders that could
be placed (a 409, no equivalent package for a gone one, is the right answer, not a failure), and
the time per order.

Bounded: no new order is sent after `--time-cap` seconds (each in flight is held to the Orders
function's own time budget); the run then reports how many were not sent and fails.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import random
import statistics
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3

from roamsync.container import Container, set_container, sync_catalog
from roamsync.domain.equivalence import RegionFallbacks, is_equivalent_or_better
from roamsync.domain.orders import TOTAL_ROUNDING, choose_fallback, order_id_for, price_bound
from roamsync.domain.packages import Package
from roamsync.domain.runs import Trigger
from roamsync.observability import log_to
from roamsync.services.catalog import candidate_packages, destination_of
from roamsync.services.ports import PackageLookup
from roamsync.settings import Settings
from roamsync_dev.bench_orders import API_KEY, REGION, TABLES, invoke, order_of, orderable_from, settings_for
from roamsync_dev.simulator import ORDER_CREATE, RoamifySimulator, SocketFault, start_server
from roamsync_dev.template import create_tables, load_template


@dataclass(frozen=True)
class Plan:
    key: str
    package: Package  # what the customer asked for
    twice: bool


@dataclass
class SoakReport:
    orders: int
    requests_sent: int = 0
    not_sent: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)  # HTTP status per request sent
    placed: int = 0  # orders whose final reply (the first for a key sent twice) was 201 or 200
    fallbacks: int = 0  # of those, placed with a replacement package
    unavailable: int = 0  # 503: nothing ordered, the key may be retried
    unknown: int = 0  # 202 UNKNOWN: Roamify could not say
    needs_review: int = 0  # 202 NEEDS_REVIEW: Roamify's order is not what was asked
    no_equivalent: int = 0  # 409: the package is gone and nothing equivalent-or-better exists
    other: Counter[int] = field(default_factory=Counter)
    order_seconds: list[float] = field(default_factory=list)  # per order (both sends of a double)
    reconciled: Counter[str] = field(default_factory=Counter)  # UNKNOWN orders read back later
    upstream_orders: int = 0
    create_requests: int = 0
    injected_create_500: int = 0
    injected_after_commit_500: int = 0
    injected_cut: int = 0
    price_moved: int = 0  # stand-ins whose price was raised live above the bound
    duplicates: list[str] = field(default_factory=list)  # order ids with more than one upstream order
    overpriced: list[str] = field(default_factory=list)  # "order: charged > bound", answered placed
    downgrades: list[str] = field(default_factory=list)  # "order: requested -> ordered"
    strays: list[str] = field(default_factory=list)  # upstream orders no key of this run asked for

    @property
    def ok(self) -> bool:
        """True when the invariants hold, every order was sent, and no reply was a 5xx other than 503."""
        server_errors = sum(n for status, n in self.statuses.items() if status >= 500 and status != 503)
        return not (
            self.duplicates
            or self.downgrades
            or self.overpriced
            or self.strays
            or self.not_sent
            or server_errors
        )

    @property
    def placeable(self) -> int:
        """Orders that could be placed: all but those answered 409 (nothing equivalent exists)."""
        return self.orders - self.not_sent - self.no_equivalent

    def placed_interval(self) -> tuple[float, float]:
        """The 95% Wilson score interval of the placed share over the placeable orders."""
        return wilson_interval(self.placed, self.placeable)

    def percentile_ms(self, share: float) -> float:
        ordered = sorted(self.order_seconds)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] * 1000

    def lines(self) -> list[str]:
        statuses = " ".join(f"{s}x{n}" for s, n in sorted(self.statuses.items()))
        reconciled = ", ".join(f"{k} {v}" for k, v in sorted(self.reconciled.items())) or "-"
        low, high = self.placed_interval()
        share = self.placed / self.placeable if self.placeable else 0.0
        mean = statistics.fmean(self.order_seconds) if self.order_seconds else 0.0
        return [
            f"orders {self.orders}, HTTP requests {self.requests_sent} ({statuses}), not sent "
            f"{self.not_sent}, {self.seconds:.1f} s",
            f"placed (201) {self.placed} of {self.placeable} placeable = {share:.2%} "
            f"(95% Wilson interval {low:.2%} - {high:.2%}); 409 no equivalent {self.no_equivalent}",
            f"of the placed, fallbacks {self.fallbacks}; 503s {self.unavailable}, UNKNOWNs {self.unknown} "
            f"(reconciled later: {reconciled}), NEEDS_REVIEW {self.needs_review}, "
            f"other {dict(self.other) or 0}",
            f"time per order: mean {mean * 1000:.0f} ms, p50 {self.percentile_ms(0.5):.0f} ms, "
            f"p99 {self.percentile_ms(0.99):.0f} ms, max {self.percentile_ms(1.0):.0f} ms",
            f"order creations sent to Roamify {self.create_requests}, orders created "
            f"{self.upstream_orders}; injected: random 500s (any call) {self.injected_create_500}, "
            f"500 after creating {self.injected_after_commit_500}, answers cut off {self.injected_cut}, "
            f"stand-in prices raised live {self.price_moved}",
            f"duplicate orders {len(self.duplicates)}, downgraded orders {len(self.downgrades)}, "
            f"overpriced orders {len(self.overpriced)}, stray upstream orders {len(self.strays)}",
        ]


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval for a binomial share (95% with the default z); (0, 1) for no trials."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def stand_in_for(original: Package, catalog: PackageLookup, tolerance: Decimal) -> Package | None:
    """The package the order service would fall back to for `original`, by its own rules."""
    destination = destination_of(original, None)
    if destination is None:
        return None
    candidates = candidate_packages(original, destination, catalog)
    candidates += RegionFallbacks.default().fallback_candidates(original.region, catalog.get)
    return choose_fallback(original, candidates, (destination,), max_price_increase=tolerance)


def _plans(packages: list[Package], orders: int, twice_share: float, rng: random.Random) -> list[Plan]:
    prefix = f"soak-{rng.getrandbits(32):08x}"
    return [
        Plan(f"{prefix}-{i}", packages[i % len(packages)], twice=rng.random() < twice_share)
        for i in range(orders)
    ]


def _send(plan: Plan) -> tuple[int, dict[str, Any]]:
    return invoke("POST", "/api/orders", {"packageId": plan.package.reseller_id, "quantity": 1}, plan.key)


def _send_twice(plan: Plan) -> list[tuple[int, dict[str, Any]]]:
    """The same key and body from two threads released together: a double click, a client retry."""
    start = threading.Barrier(2)
    replies: list[tuple[int, dict[str, Any]]] = []

    def one() -> None:
        start.wait()
        reply = _send(plan)
        replies.append(reply)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return replies


@contextlib.contextmanager
def _faults(
    sim: RoamifySimulator,
    *,
    random_500: float,
    create_500: float,
    after_commit_500: float,
    cut: float,
    late_visible: float,
) -> Iterator[None]:
    sim.reset_faults()
    # Random 500s on every call, or (when only create_500 is given) on creations alone.
    sim.faults.random_500_rate = random_500 or create_500
    sim.faults.random_500_creates_only = not random_500
    sim.faults.error_after_commit_rate = after_commit_500
    sim.faults.late_visible_seconds = late_visible
    if cut:
        method, path = ORDER_CREATE
        sim.faults.socket_faults = [SocketFault(kind="cut", method=method, path=path, count=-1, rate=cut)]
    try:
        yield
    finally:
        sim.reset_faults()


def run_soak(
    sim: RoamifySimulator,
    settings: Settings,
    *,
    orders: int = 1000,
    random_500: float = 0.0,
    create_500: float = 0.2,
    after_commit_500: float = 0.05,
    cut: float = 0.0,
    late_visible: float = 0.0,
    price_moves: bool = False,
    twice_share: float = 0.05,
    gone_share: float = 0.05,
    workers: int = 8,
    time_cap_seconds: float = 90.0,
    seed: int = 7,
) -> SoakReport:
    """Place `orders` orders through the Orders handler under injected Roamify faults and check the
    simulator's order log. Needs the catalog synced into the tables `settings` names; makes
    `--gone` of the ordered packages disappear from the simulator (it does not restore them)."""
    rng = random.Random(seed)
    container = Container(settings)  # a fresh container: a fresh breaker, as a new Lambda has
    set_container(container)
    catalog = container.packages.load_all()
    packages = orderable_from(catalog)
    gone = rng.sample(packages, max(1, round(gone_share * len(packages))))
    sim.remove_packages(p.reseller_id for p in gone)
    tolerance = Decimal(str(settings.fallback_max_price_increase))
    moved = _raise_stand_in_prices(sim, gone, container.packages, tolerance) if price_moves else set()
    # A package whose live price moved is ordered only as a stand-in, never as asked for.
    packages = [p for p in packages if p.reseller_id not in moved]
    plans = _plans(packages, orders, twice_share, rng)
    report = SoakReport(orders=orders, price_moved=len(moved))
    first_upstream = len(sim.orders)
    replies: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    deadline = time.monotonic() + time_cap_seconds
    started = time.monotonic()

    def work(plan: Plan) -> None:
        if time.monotonic() > deadline:
            return
        sent = time.monotonic()
        replies[plan.key] = _send_twice(plan) if plan.twice else [_send(plan)]
        report.order_seconds.append(time.monotonic() - sent)

    faults = _faults(
        sim,
        random_500=random_500,
        create_500=create_500,
        after_commit_500=after_commit_500,
        cut=cut,
        late_visible=late_visible,
    )
    with faults, ThreadPoolExecutor(workers) as pool:
        sim.reset_counts()
        list(pool.map(work, plans))
        report.create_requests = sim.request_counts[ORDER_CREATE]
        report.injected_create_500 = sim.injected_counts["random 500"]
        report.injected_after_commit_500 = sim.injected_counts["500 after commit"]
        report.injected_cut = sim.injected_counts["socket cut"]
    report.seconds = time.monotonic() - started

    report.not_sent = sum(1 for plan in plans if plan.key not in replies)
    _tally(report, replies)

    # Roamify recovers; a later GET reconciles each UNKNOWN order by lookup.
    set_container(Container(settings))
    for key, answers in replies.items():
        if any(status == 202 and body.get("status") == "UNKNOWN" for status, body in answers):
            _, read = invoke("GET", f"/api/orders/{order_id_for(key)}")
            report.reconciled[str(read.get("status"))] += 1

    needing_review = {
        order_id_for(key)
        for key, answers in replies.items()
        if any(body.get("status") == "NEEDS_REVIEW" for _, body in answers)
    }
    _check_log(report, sim.orders[first_upstream:], plans, catalog, settings, needing_review=needing_review)
    return report


def _raise_stand_in_prices(
    sim: RoamifySimulator, gone: list[Package], catalog: PackageLookup, tolerance: Decimal
) -> set[str]:
    """Raise, live, the price of the stand-in each gone package would take, above that package's
    bound: the order service must then not buy it. Returns the packageIds raised."""
    moved: set[str] = set()
    gone_ids = {p.reseller_id for p in gone}
    for original in gone:
        stand_in = stand_in_for(original, catalog, tolerance)
        if stand_in is None or stand_in.reseller_id in gone_ids or stand_in.reseller_id in moved:
            continue
        rise = price_bound(original.price, tolerance) - stand_in.price + Decimal(1)
        sim.change_prices([stand_in.reseller_id], delta=float(rise))
        moved.add(stand_in.reseller_id)
    return moved


def _tally(report: SoakReport, replies: dict[str, list[tuple[int, dict[str, Any]]]]) -> None:
    """Count the replies: every HTTP status, and each order by its first reply."""
    for answers in replies.values():
        report.requests_sent += len(answers)
        report.statuses.update(status for status, _ in answers)
        status, body = answers[0]
        if status in (200, 201):
            report.placed += 1
            report.fallbacks += bool(body.get("fallbackUsed"))
        elif status == 503:
            report.unavailable += 1
        elif status == 202 and body.get("status") == "UNKNOWN":
            report.unknown += 1
        elif status == 202 and body.get("status") == "NEEDS_REVIEW":
            report.needs_review += 1
        elif status == 409:
            report.no_equivalent += 1
        else:
            report.other[status] += 1


def _check_log(
    report: SoakReport,
    created: list[dict[str, Any]],
    plans: list[Plan],
    catalog: dict[str, Package],
    settings: Settings,
    *,
    needing_review: set[str],
) -> None:
    """Duplicates, downgrades, overpriced orders (charged above the bound yet not NEEDS_REVIEW) and
    strays, from the simulator's log of the orders Roamify created."""
    requested = {order_id_for(plan.key): plan.package for plan in plans}
    tolerance = Decimal(str(settings.fallback_max_price_increase))
    report.upstream_orders = len(created)
    per_order = Counter(order_of(o["referenceId"]) for o in created)
    report.duplicates = sorted(order_id for order_id, n in per_order.items() if n > 1)
    for upstream in created:
        order_id = order_of(upstream["referenceId"])
        original = requested.get(order_id)
        if original is None:
            report.strays.append(upstream["id"])
            continue
        bound = price_bound(original.price, tolerance) * len(upstream["items"]) + TOTAL_ROUNDING
        if Decimal(str(upstream["total"])) > bound and order_id not in needing_review:
            report.overpriced.append(f"{order_id}: charged {upstream['total']} > {bound}")
        for item in upstream["items"]:
            ordered = catalog.get(item["packageId"])
            same = item["packageId"] == original.reseller_id
            if not same and (
                ordered is None
                or original.country_code is None
                or not is_equivalent_or_better(
                    original, ordered, original.country_code, max_price_increase=tolerance
                )
            ):
                report.downgrades.append(f"{order_id}: {original.reseller_id} -> {item['packageId']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--size", type=int, default=300, help="simulator catalog size")
    parser.add_argument("--random-500", type=float, default=0.2, help="share of every Roamify call")
    parser.add_argument("--create-500", type=float, default=0.0, help="share of creations only")
    parser.add_argument("--after-commit-500", type=float, default=0.05)
    parser.add_argument("--cut", type=float, default=0.03, help="creation answers cut off at the socket")
    parser.add_argument("--late-visible", type=float, default=1.0, help="seconds a faulted commit hides")
    parser.add_argument("--no-price-moves", action="store_true", help="leave stand-in prices alone")
    parser.add_argument("--twice", type=float, default=0.05, help="share of keys sent twice at once")
    parser.add_argument("--gone", type=float, default=0.05, help="share of packages gone upstream")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--time-cap", type=float, default=300.0, help="seconds; no order sent after it")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from roamsync_dev import moto_atomic
    from roamsync_dev.local_stack import start_embedded_dynamodb

    moto_atomic.install()  # the embedded server installs it too; the soak counts on it

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "soak")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "soak")
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
    server, endpoint = start_embedded_dynamodb()
    sim = RoamifySimulator(size=args.size, seed=args.seed, api_key=API_KEY)
    sim_server = start_server(sim, port=0)
    try:
        create_tables(
            boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint), load_template(), TABLES
        )
        settings = settings_for(endpoint, sim_server.url, None)
        container = Container(settings)
        synced = sync_catalog(container, Trigger.CLI)
        if synced.run.status.value != "succeeded":
            raise SystemExit(f"the catalog sync before the soak did not succeed: {synced.run.status}")
        log_to(io.StringIO())  # EMF metric lines and logs would bury the figures
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = run_soak(
                sim,
                settings,
                orders=args.orders,
                random_500=args.random_500,
                create_500=args.create_500,
                after_commit_500=args.after_commit_500,
                cut=args.cut,
                late_visible=args.late_visible,
                price_moves=not args.no_price_moves,
                twice_share=args.twice,
                gone_share=args.gone,
                workers=args.workers,
                time_cap_seconds=args.time_cap,
                seed=args.seed,
            )
    finally:
        set_container(None)
        sim_server.stop()
        server.stop()
    print(
        f"roamsync order soak: {args.orders} orders through the Orders handler, {args.workers} threads; "
        f"{args.size}-package Roamify simulator and moto DynamoDB server on loopback"
    )
    print(
        f"taken {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; faults: {args.random_500:.0%} of every Roamify "
        f"call and {args.create_500:.0%} of creations answer 500, {args.after_commit_500:.0%} of "
        f"creations commit then answer 500, {args.cut:.0%} commit and are cut off at the socket "
        f"(those commits visible {args.late_visible:g} s later), {args.gone:.0%} of packages gone "
        f"upstream with their stand-ins' prices raised live above the bound"
        f"{' (off)' if args.no_price_moves else ''}, {args.twice:.0%} of keys sent twice concurrently"
    )
    print("\n".join(report.lines()))
    print("PASS" if report.ok else "FAIL")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
