"""The fault matrix: each path under each upstream fault crossed with each DynamoDB fault, with the same
invariants checked after every case (tests/functional/faults/invariants.py).

Rows (paths) and how each is driven, on moto + a 60-package Roamify simulator
(tests/functional/faults/conftest.py):

- ``sync``: five price changes and one removal upstream after a clean first sync, then the sync
  worker (SyncFunction's async task) for a pending run;
- ``nightly``: the scheduled event through SyncFunction (sync → validation → auto-fix) with a shop
  row whose package Roamify stopped listing;
- ``checkout``: ``POST /api/checkout/validate`` through the local gateway and authorizer, for a live
  and a stale package;
- ``orders``: ``POST /api/orders`` through the gateway, a live package and a stale one that has an
  equivalent-or-better fallback.

Upstream faults (columns, the simulator's switches): ``random_500`` (30% of requests),
``error_after_commit`` and ``timeout_after_commit`` (the next order creation commits, then answers 500
/ hangs past the client timeout), ``slow`` (0.1 s per request, under every timeout), ``rate_limit_429``
(one 429 with ``Retry-After: 0``: waiting on Retry-After is the unit tests' job; here only the
retry), ``failed_page`` (catalog page 2 answers 500), ``outage`` (every request 503), and the
catalog faults of a hostile upstream: ``shifted`` (the first country node of page 1 leaves the
catalog right after page 1 is served, shifting every later listing), ``null_record`` (a JSON ``null``
takes a slot of page 1), ``cut_body`` / ``reset`` (page 2's body cut off / the connection reset
after the headers, at the socket), ``drip`` (page 1 drips in 64 bytes per 50 ms, far past the
call's deadline), ``out_of_range`` (page 1 carries records with 1e999, 1e300, -1e400, NaN and a
5,000-digit number), and checkout's own socket faults: ``live_cut`` / ``live_drip`` /
``live_reset`` (every answer to its live ``?packageId=`` check cut off mid-body, dripping a byte
per 50 ms, or reset after the headers), and the order creation's: ``order_cut`` / ``order_drip``
/ ``order_reset`` (the order is created, its answer cut off, dripping 4 bytes per 50 ms, or reset),
``order_reset_before`` (reset before anything is created) and ``late_visible_commit`` (created,
answered 500, seen by lookups only a second later). After a catalog fault the sync run must have succeeded,
the package Roamify stopped listing must be inactive, and every package Roamify still lists must be
active.

DynamoDB faults (tests/fakes/faults.py): ``throttle`` (the first call of each of the path's main
(operation, table) pairs answers ProvisionedThroughputExceededException through a botocore
``before-send`` hook, so botocore's own retry runs), ``unprocessed`` (CountingBatchSend holds 3 items
back from each of the first two BatchWriteItem calls), ``race`` (two writers on one key at once:
the sync worker's run claimed by two deliveries of its event; two nightly runs fixing the same shop
row; two validations of one package while the cache is cleared; two order requests with one
``Idempotency-Key``), with moto's conditional writes made atomic as DynamoDB's are.

What runs (102 cases) and what is n/a:

=========  =========================================================  =============================
path       upstream faults                                             DynamoDB faults
=========  =========================================================  =============================
sync       random_500, slow, rate_limit_429, failed_page, outage,      throttle, unprocessed, race
           shifted, null_record, cut_body, drip, reset, out_of_range
nightly    (as sync)                                                   throttle, unprocessed, race
checkout   random_500, slow, rate_limit_429, outage, live_cut,         throttle, race
           live_drip, live_reset
orders     random_500, error_after_commit, timeout_after_commit,       throttle, race
           slow, rate_limit_429, outage, order_cut, order_drip,
           order_reset, order_reset_before, late_visible_commit
=========  =========================================================  =============================

n/a: ``error_after_commit`` / ``timeout_after_commit`` fault only order creation (``POST
/api/esim/order``), which sync, nightly and checkout never call. ``failed_page`` faults only the
paged catalog walk: checkout looks one package up by ``packageId`` and orders look orders up, neither
pages. ``unprocessed`` needs a BatchWriteItem: only the sync (alone or in the nightly run) writes in
batches; checkout and orders write single items.

Invariants after every case: no package Roamify still lists left inactive or missing (sync and
nightly), no customer order placed twice upstream (sim.orders grouped by the
referenceId's order id), none downgraded (each upstream order's package equivalent-or-better than the
one requested; each auto-fixed row's new package equivalent-or-better than its old one), no Packages
or MyPackages row lost (counts before/after), no half-written run (every Runs record finished with a
status once the case's workers returned), every client-visible answer a documented status (2xx, 4xx,
409, 503 — never a 500) with the ``{"error": {"code", "message"}}`` shape (or checkout's documented
409 ``block`` answer), and no unhandled error from a worker or scheduled invocation (Lambda would
retry it).

Beyond the matrix, ``test_throttling_past_the_sdk_retries_answers_503_not_500`` throttles longer
than the SDK retries (5 answers against 4 attempts): the client sees a 503 with ``Retry-After``; and
``test_a_run_record_lost_to_throttling_is_settled_as_abandoned`` throttles the sync's finishing run
record on every attempt: the handler does not fail, the SyncRunRecordNotSaved metric fires, and once
the run's lease (16 minutes) has run out sync-status and the Runs item say failed / ``abandoned``, so
no run is left half-written for good.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from roamsync.adapters.dynamo import PackageRepository
from roamsync.container import Container, sync_catalog
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.orders import order_id_for
from roamsync.domain.packages import Package
from roamsync.domain.runs import Trigger
from roamsync.services.sync import new_sync_run
from roamsync_dev import lambda_runtime
from roamsync_dev.simulator import SocketFault, out_of_range_packages
from tests.fakes.dynamo import CountingBatchSend
from tests.fakes.faults import DynamoThrottle
from tests.fakes.orders import FakeCatalog
from tests.functional.faults.invariants import Snapshot, Witness, check_all, run_records
from tests.functional.test_nightly import SCHEDULED_EVENT, a_fixable_row
from tests.functional.test_orders import Shop, fallback_for, local_packages, running_shop

CLIENT = {"Authorization": "Bearer client-secret-token", "Content-Type": "application/json"}
ADMIN = {"Authorization": "Bearer admin-secret-token"}
WORKER_TASK = "roamsync.sync"
SYNC_STATUS = "/api/admin/packages/sync-status"


def _set(**switches: Any) -> Callable[[Any], None]:
    def apply(sim: Any) -> None:
        for name, value in switches.items():
            setattr(sim.faults, name, value)

    return apply


PACKAGES = "/api/esim/packages"


def _socket(sim: Any, kind: Any, **fields: Any) -> None:
    """A fresh socket fault on one catalog page (a fault is spent as it fires: never share one)."""
    sim.faults.socket_faults = [SocketFault(kind, method="GET", path=PACKAGES, **fields)]


ORDER = "/api/esim/order"


def _order_socket(sim: Any, kind: Any, **fields: Any) -> None:
    """A fresh socket fault on the next order creation (a fault is spent as it fires)."""
    sim.faults.socket_faults = [SocketFault(kind, method="POST", path=ORDER, **fields)]


UPSTREAM: dict[str, Callable[[Any], None]] = {
    "none": _set(),
    "random_500": _set(random_500_rate=0.3),
    "error_after_commit": _set(error_after_commit_next=1),
    "timeout_after_commit": _set(timeout_after_commit_next=1),
    "slow": _set(slow_seconds=0.1),
    "rate_limit_429": _set(rate_limit_remaining_429=1, retry_after_seconds=0),
    "failed_page": _set(fail_page=2),
    "outage": _set(outage=True),
    # Catalog faults of a hostile upstream: each must leave every live package active and the run
    # succeeded (RECOVERABLE), the retries and checks absorbing them.
    "shifted": _set(shift_after_page=1),
    "null_record": _set(null_record_page=1),
    "cut_body": lambda sim: _socket(sim, "cut", page=2),
    "drip": lambda sim: _socket(sim, "drip", page=1, drip_bytes=64, drip_interval=0.05),
    "reset": lambda sim: _socket(sim, "reset", page=2),
    "out_of_range": lambda sim: sim.inject_raw_packages(1, out_of_range_packages()),
    # Checkout's live package check (GET /api/esim/packages?packageId=) broken at the socket on
    # every answer: cut off mid-body, dripping a byte per 50 ms (far past the call's deadline), reset.
    "live_cut": lambda sim: _socket(sim, "cut", count=-1),
    "live_drip": lambda sim: _socket(sim, "drip", count=-1, drip_bytes=1, drip_interval=0.05),
    "live_reset": lambda sim: _socket(sim, "reset", count=-1),
    # Order faults of a hostile upstream, played on the creation's TCP connection, and a commit
    # answered 500 that lookups see only a second later.
    "order_cut": lambda sim: _order_socket(sim, "cut"),
    "order_drip": lambda sim: _order_socket(sim, "drip", drip_bytes=4, drip_interval=0.05),
    "order_reset": lambda sim: _order_socket(sim, "reset"),
    "order_reset_before": lambda sim: _order_socket(sim, "reset", before_response=True),
    "late_visible_commit": _set(error_after_commit_next=1, late_visible_seconds=1.0),
}
CATALOG_FAULTS = ("shifted", "null_record", "cut_body", "drip", "reset", "out_of_range")
LIVE_CHECK_FAULTS = ("live_cut", "live_drip", "live_reset")
RECOVERABLE = set(CATALOG_FAULTS)
PATH_UPSTREAM = {
    "sync": ("random_500", "slow", "rate_limit_429", "failed_page", "outage", *CATALOG_FAULTS),
    "nightly": ("random_500", "slow", "rate_limit_429", "failed_page", "outage", *CATALOG_FAULTS),
    "checkout": ("random_500", "slow", "rate_limit_429", "outage", *LIVE_CHECK_FAULTS),
    "orders": (
        "random_500",
        "error_after_commit",
        "timeout_after_commit",
        "slow",
        "rate_limit_429",
        "outage",
        "order_cut",
        "order_drip",
        "order_reset",
        "order_reset_before",
        "late_visible_commit",
    ),
}
PATH_DYNAMO = {
    "sync": ("throttle", "unprocessed", "race"),
    "nightly": ("throttle", "unprocessed", "race"),
    "checkout": ("throttle", "race"),
    "orders": ("throttle", "race"),
}
# The (operation, table) pairs each path's throttle hits: its main reads and writes.
THROTTLED = {
    "sync": [("BatchWriteItem", "PackagesTable"), ("PutItem", "RunsTable"), ("Scan", "PackagesTable")],
    "nightly": [
        ("BatchWriteItem", "PackagesTable"),
        ("PutItem", "RunsTable"),
        ("Scan", "MyPackagesTable"),
        ("PutItem", "MyPackagesTable"),
        ("UpdateItem", "MyPackagesTable"),
    ],
    "checkout": [
        ("GetItem", "PackagesTable"),
        ("GetItem", "ValidationCacheTable"),
        ("PutItem", "ValidationCacheTable"),
    ],
    "orders": [("PutItem", "OrdersTable"), ("UpdateItem", "OrdersTable"), ("GetItem", "OrdersTable")],
}
CASES = [
    pytest.param(path, upstream, dynamo, id=f"{path}-{upstream}-{dynamo}")
    for path, upstreams in PATH_UPSTREAM.items()
    for upstream in upstreams
    for dynamo in PATH_DYNAMO[path]
]


def concurrently(*calls: Callable[[], None]) -> None:
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], None]) -> None:
        barrier.wait()
        call()

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a writer did not finish"


def guarded(witness: Witness, call: Callable[[], Any]) -> Callable[[], None]:
    def run() -> None:
        try:
            call()
        except Exception as exc:  # collected: an invariant says there must be none
            witness.unhandled.append(exc)

    return run


def with_unprocessed(container: Container) -> CountingBatchSend:
    base = container.packages
    counter = CountingBatchSend(base.default_send, base.table_name, unprocessed_per_call=3, inject_calls=2)
    repo = PackageRepository(send=counter, max_attempts=5, base_backoff_ms=1)
    container.__dict__["packages"] = repo  # replaces the cached property for the workers
    return counter


# ---- sync and nightly -----------------------------------------------------------------------------


def drive_sync(container: Container, sim: Any, dynamo: str, witness: Witness) -> None:
    run = new_sync_run(container.clock, Trigger.API, force=False)
    container.runs.save(run)
    event = {"task": WORKER_TASK, "runId": run.run_id, "force": False}
    results: list[dict[str, Any]] = []
    worker = guarded(witness, lambda: results.append(lambda_runtime.invoke("SyncFunction", event)))
    if dynamo == "race":  # Lambda delivered the async event twice: the run is worked once
        concurrently(worker, worker)
        assert sorted(r["status"] == "ignored" for r in results) == [False, True], results
    else:
        worker()


def drive_nightly(container: Container, sim: Any, dynamo: str, witness: Witness) -> None:
    nightly = guarded(witness, lambda: lambda_runtime.invoke("SyncFunction", SCHEDULED_EVENT))
    if dynamo == "race":  # two deliveries of the schedule: two auto-fix writers on one row
        concurrently(nightly, nightly)
    else:
        nightly()


_FIXABLE: list[tuple[MyPackage, Package]] = []  # the seeded catalog's fixable row, found once


@pytest.fixture
def synced(container: Container, simulator: Any) -> Container:
    """A clean first sync, a shop row whose package then left Roamify, and a few price changes."""
    sync_catalog(container, Trigger.CLI)
    if not _FIXABLE:
        _FIXABLE.append(a_fixable_row(container))
    [(row, package)] = _FIXABLE
    container.my_packages.save(row)
    simulator.remove_packages([package.reseller_id])
    simulator.change_prices([p for p in simulator.package_ids() if p != package.reseller_id][:5], delta=1.0)
    lambda_runtime.load_handler("SyncFunction")  # imported once, before any threads race to
    return container


def run_catalog_case(
    container: Container, sim: Any, path: str, upstream: str, dynamo: str, *, mp: Any
) -> None:
    witness = Witness(Snapshot.take())
    rows_before = {r.id: r for r in container.my_packages.all()}
    counter = with_unprocessed(container) if dynamo == "unprocessed" else None
    throttle = DynamoThrottle(THROTTLED[path])
    UPSTREAM[upstream](sim)
    drive = drive_sync if path == "sync" else drive_nightly
    if dynamo == "throttle":
        with throttle.installed(mp):
            drive(container, sim, dynamo, witness)
        assert throttle.throttled, "the throttle never fired"
    else:
        drive(container, sim, dynamo, witness)
    faults_seen = sum(sim.injected_counts.values())
    sim.reset_faults()
    sim.inject_raw_packages(1, None)
    if counter is not None and upstream not in ("outage", "failed_page") and counter.calls:
        assert counter.items_held_back, "no UnprocessedItems were injected"
    container.__dict__.pop("packages", None)
    catalog = functools.cache(container.packages.load_all)
    if upstream in RECOVERABLE:
        assert upstream == "out_of_range" or faults_seen, f"the {upstream} fault never happened"
        [*_, last] = sorted((r for r in run_records() if r["kind"] == "sync"), key=lambda r: r["started_at"])
        assert last["status"] == "succeeded", (last["status"], last.get("reason"), last.get("error"))
        [(_, removed_upstream)] = _FIXABLE
        assert catalog()[removed_upstream.reseller_id].status == "inactive", "the gone package stays active"
    check_all(
        witness,
        upstream_orders=sim.orders,
        catalog=catalog,
        rows=(rows_before, {r.id: r for r in container.my_packages.all()}),
        listed=sim.package_ids(),
    )


# ---- checkout and orders ----------------------------------------------------------------------------


@pytest.fixture
def shop(aws: None, simulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    """The handlers behind the local gateway (authorizer included) on moto and the simulator, with
    the order tests' short timeouts and a breaker opening after 3 upstream failures."""
    with running_shop(simulator, monkeypatch, full_catalog=True) as shop:
        yield shop


def stale_with_fallback(catalog: dict[str, Package]) -> Package:
    fake = FakeCatalog(catalog.values())
    return next(p for p in local_packages(catalog) if fallback_for(fake, p) is not None)


def drive_checkout(shop: Shop, dynamo: str, witness: Witness, live: Package, stale: Package) -> None:
    def validate(package: Package) -> Callable[[], None]:
        def call() -> None:
            r = shop.client().post(
                "/api/checkout/validate", headers=CLIENT, data=json.dumps({"packageId": package.reseller_id})
            )
            witness.responses.append((r.status_code, r.get_data()))

        return call

    def clear() -> None:
        r = shop.client().delete("/api/admin/packages/validation-cache", headers=ADMIN)
        witness.responses.append((r.status_code, r.get_data()))

    if dynamo == "race":
        concurrently(validate(live), validate(live), clear)
    validate(live)()
    validate(stale)()


def drive_orders(shop: Shop, dynamo: str, witness: Witness, live: Package, stale: Package) -> None:
    def order(key: str, package: Package) -> Callable[[], None]:
        witness.requested[order_id_for(key)] = package

        def call() -> None:
            body = json.dumps({"packageId": package.reseller_id, "quantity": 1})
            r = shop.client().post("/api/orders", headers={**CLIENT, "Idempotency-Key": key}, data=body)
            witness.responses.append((r.status_code, r.get_data()))

        return call

    if dynamo == "race":
        concurrently(order("key-live", live), order("key-live", live))
    else:
        order("key-live", live)()
    order("key-stale", stale)()


def run_shop_case(
    shop: Shop, path: str, upstream: str, dynamo: str, mp: Any, *, throttled_calls: int = 1
) -> None:
    catalog = shop.catalog()  # as the clean sync left it
    live, stale = local_packages(catalog)[0], stale_with_fallback(catalog)
    shop.sim.remove_packages([stale.reseller_id])
    witness = Witness(Snapshot.take())
    throttle = DynamoThrottle(THROTTLED[path], first_n=throttled_calls)
    UPSTREAM[upstream](shop.sim)
    drive = drive_checkout if path == "checkout" else drive_orders
    if dynamo == "throttle":
        with throttle.installed(mp):
            drive(shop, dynamo, witness, live, stale)
        assert throttle.throttled, "the throttle never fired"
    else:
        drive(shop, dynamo, witness, live, stale)
    shop.sim.reset_faults()
    check_all(witness, upstream_orders=shop.sim.orders, catalog=lambda: catalog)


@pytest.mark.parametrize(("path", "upstream", "dynamo"), CASES)
def test_invariants_hold(
    path: str, upstream: str, dynamo: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The authorizer and the handlers read the tokens from the environment, as in AWS.
    monkeypatch.setenv("CLIENT_TOKEN", "client-secret-token")
    monkeypatch.setenv("ADMIN_TOKEN", "admin-secret-token")
    if path in ("sync", "nightly"):
        container = request.getfixturevalue("synced")
        run_catalog_case(
            container, request.getfixturevalue("simulator"), path, upstream, dynamo, mp=monkeypatch
        )
    else:
        run_shop_case(request.getfixturevalue("shop"), path, upstream, dynamo, monkeypatch)


# pynamodb gives each call 4 attempts (roamsync sets max_retry_attempts = 3); a throttle lasting 5
# answers outlasts them and the adapters raise StorageError, which roamsync/http.py answers with 503.
@pytest.mark.parametrize("path", ["checkout", "orders"])
def test_throttling_past_the_sdk_retries_answers_503_not_500(
    path: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLIENT_TOKEN", "client-secret-token")
    monkeypatch.setenv("ADMIN_TOKEN", "admin-secret-token")
    run_shop_case(request.getfixturevalue("shop"), path, "none", "throttle", monkeypatch, throttled_calls=5)


# ---- a run record lost past the SDK retries -------------------------------------------------------

# The Runs PutItems each path makes before the sync's finishing one: the API's pending record, the
# worker's claim (which records it running) and the sync lock; the nightly run's sync lock and its
# "running" record.
RUN_SAVES_BEFORE_FINISH = {"sync": 3, "nightly": 2}


@pytest.mark.parametrize("path", ["sync", "nightly"])
def test_a_run_record_lost_to_throttling_is_settled_as_abandoned(
    path: str,
    synced: Container,
    simulator: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """DynamoDB refuses the sync's finishing run record on every attempt the SDK makes (4): the sync's
    work stands, the handler does not fail, and once the run's lease has run out the operator's
    sync-status shows it as failed / abandoned (and the Runs item says so) instead of running."""
    from roamsync.domain.runs import ABANDONED, RUN_LEASE
    from tests.functional.test_alarm_metrics import alarm_on, api_event, emf

    witness = Witness(Snapshot.take())
    rows_before = {r.id: r for r in synced.my_packages.all()}
    throttle = DynamoThrottle([("PutItem", "RunsTable")], first_n=4, skip=RUN_SAVES_BEFORE_FINISH[path])
    drive = drive_sync if path == "sync" else drive_nightly
    with throttle.installed(monkeypatch):
        drive(synced, simulator, "throttle", witness)
    assert sum(throttle.throttled.values()) == 4
    assert not witness.unhandled, witness.unhandled
    namespace, dimensions, value = emf(capsys.readouterr().out)["SyncRunRecordNotSaved"]
    assert (namespace, dimensions, value) == (*alarm_on("SyncRunRecordNotSaved"), 1.0)
    [stuck] = [r for r in run_records() if r["status"] == "running"]
    assert stuck["kind"] == "sync"
    [(_, removed_upstream)] = _FIXABLE
    assert synced.packages.load_all()[removed_upstream.reseller_id].status == "inactive", "writes stand"

    real_clock = synced.clock
    synced.clock = lambda: real_clock() + RUN_LEASE - timedelta(minutes=1)  # still within the lease
    body = json.loads(lambda_runtime.invoke("AdminFunction", api_event("GET", SYNC_STATUS))["body"])
    assert body["lastSync"]["status"] == "running"

    synced.clock = lambda: real_clock() + RUN_LEASE + timedelta(minutes=1)
    body = json.loads(lambda_runtime.invoke("AdminFunction", api_event("GET", SYNC_STATUS))["body"])
    last = body["lastSync"]
    assert (last["runId"], last["status"], last["reason"]) == (stuck["run_id"], "failed", ABANDONED)
    assert last["finishedAt"] is not None and "lease ran out" in last["error"]
    assert body["syncNeeded"] is True and "last_sync_failed" in body["syncNeededReasons"]
    [stored] = [r for r in run_records() if r["run_id"] == stuck["run_id"]]
    assert (stored["status"], stored["reason"]) == ("failed", ABANDONED)

    check_all(
        witness,
        upstream_orders=simulator.orders,
        catalog=functools.cache(synced.packages.load_all),
        rows=(rows_before, {r.id: r for r in synced.my_packages.all()}),
    )
