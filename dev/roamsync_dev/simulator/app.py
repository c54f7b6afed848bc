"""The simulator itself: a mutable catalog, an order log, fault switches and a WSGI app over them."""

from __future__ import annotations

import copy
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from werkzeug.wrappers import Request, Response

from roamsync_dev.serving import RAW_CONNECTION, RawConnection
from roamsync_dev.simulator.catalog import (
    NODES_KEY,
    _generate,
    country_nodes,
    generate_catalog,
    node_order,
    node_table,
)
from roamsync_dev.simulator.control import SimulatorControl
from roamsync_dev.simulator.faults import Faults, SocketFault
from roamsync_dev.simulator.sockets import discarded, page_of, send_faulted
from roamsync_dev.simulator.wire import (
    MAX_PAGE_SIZE,
    BadRequest,
    _failed,
    _int_arg,
    _json,
    _parse_order_body,
    _success,
)

ORDER_CREATE = ("POST", "/api/esim/order")


@dataclass(frozen=True)
class _Entry:
    package: dict[str, Any]  # never mutated once stored: price changes replace it
    nodes: tuple[str, ...]


PageSizeCounts = Literal["listings", "nodes"]
UnknownOrderAnswer = Literal["404", "null", "empty"]
UnknownPackageAnswer = Literal["empty", "404"]
CONTROL_PREFIX = "/_sim/"


@dataclass
class Readings:
    """How the simulator reads what Roamify's documentation leaves open; tests cover each reading."""

    page_size_counts: PageSizeCounts = "listings"  # what pageSize counts: (node, package) listings or nodes
    unknown_order_answer: UnknownOrderAnswer = "404"  # get-one of an order that does not exist
    unknown_package_answer: UnknownPackageAnswer = "empty"  # ?packageId= of a package not listed


class RoamifySimulator:
    """An in-memory Roamify: a mutable catalog, an order log, fault switches and a WSGI app over them.

    All state sits behind one lock, so tests may mutate it while the threaded server answers.
    Rotating the key is ``simulator.api_key = "new"``; every request must then send the new one.
    Paths under /_sim/ are its control API (`control.SimulatorControl`), behind the same key.
    """

    def __init__(
        self,
        size: int = 200,
        seed: int = 7,
        api_key: str = "sim-key",
        page_size_default: int = 50,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_key = api_key
        self.page_size_default = page_size_default
        self.faults = Faults()
        self.readings = Readings()
        self.request_counts: Counter[tuple[str, str]] = Counter()
        self.injected_counts: Counter[str] = Counter()  # faults fired: "random 500", "socket cut", ...
        self.shift_removed: list[str] = []  # packages the shift_after_page fault took out of the catalog
        self._seed = seed
        self._clock = clock
        self._lock = threading.RLock()
        self._fault_rng = random.Random(seed)
        self._id_rng = random.Random(f"orders:{seed}")
        self._orders: list[dict[str, Any]] = []
        self._late: set[str] = set()  # late commits the next lookup misses (late_visible_seconds == 0)
        self._visible_at: dict[str, float] = {}  # late commits seen only from this time on
        self._active: dict[str, _Entry] = {}
        self._removed: dict[str, _Entry] = {}
        self._batches = 0
        self._listings: list[tuple[int, str, str]] | None = None  # (node order, packageId, slug), sorted
        self._price_ranges: dict[str, tuple[float, float]] = {}
        self._raw_injections: dict[int, list[dict[str, Any]]] = {}

        self._store(generate_catalog(size, seed))
        self._routes: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("GET", "/api/health"): lambda _request: _json(200, {"status": "success"}),
            ("GET", "/api/esim/packages"): self._packages_page,
            ("GET", "/api/esim/countries"): self._countries,
            ("POST", "/api/esim/order"): self._create_order,
            ("GET", "/api/esim/order"): self._get_order,
            ("GET", "/api/esim/orders"): self._list_orders,
        }
        # The /_sim/ control API (see control.py), behind the same key; None switches it off.
        self.control: Callable[[Request], Response] | None = SimulatorControl(self)

    # ---- catalog helpers for tests -------------------------------------------------------------

    def _store(self, packages: Iterable[dict[str, Any]]) -> None:
        for package in packages:
            public = {k: v for k, v in package.items() if k != NODES_KEY}
            self._active[public["packageId"]] = _Entry(public, tuple(package[NODES_KEY]))
        self._listings = None

    def package_ids(self) -> list[str]:
        """Return the packageIds currently listed, sorted."""
        with self._lock:
            return sorted(self._active)

    def removed_ids(self) -> list[str]:
        """Return the packageIds removed from the catalog (and not restored), sorted."""
        with self._lock:
            return sorted(self._removed)

    def get_package(self, package_id: str) -> dict[str, Any]:
        """Return a copy of a listed package with its ``_countryNodes``; raises KeyError if not listed."""
        with self._lock:
            entry = self._active[package_id]
            return {**copy.deepcopy(entry.package), NODES_KEY: list(entry.nodes)}

    def listing_count(self) -> int:
        """Return how many (country node, package) listings the unfiltered catalog pages through."""
        with self._lock:
            return len(self._sorted_listings())

    def listings(self) -> list[tuple[str, str]]:
        """Every (countrySlug, packageId) listing in page order."""
        with self._lock:
            return [(slug, pid) for _, pid, slug in self._sorted_listings()]

    def remove_packages(self, ids: Iterable[str]) -> None:
        """Stop listing these packages (ordering one then answers 500); KeyError if one is not listed."""
        self._move(ids, self._active, self._removed)

    def remove_fraction(self, fraction: float, seed: int = 0) -> list[str]:
        """Remove round(fraction * listed) packages picked reproducibly by `seed`; return sorted ids."""
        with self._lock:
            listed = sorted(self._active)
            chosen = sorted(random.Random(seed).sample(listed, k=round(fraction * len(listed))))
            self.remove_packages(chosen)
            return chosen

    def restore_packages(self, ids: Iterable[str]) -> None:
        """List removed packages again, unchanged; raises KeyError for an id that was not removed."""
        self._move(ids, self._removed, self._active)

    def _move(self, ids: Iterable[str], source: dict[str, _Entry], target: dict[str, _Entry]) -> None:
        with self._lock:
            ids = list(ids)
            missing = [i for i in ids if i not in source]
            if missing:
                raise KeyError(f"unknown here: {missing}")  # all or nothing, so a typo changes nothing
            for package_id in ids:
                target[package_id] = source.pop(package_id)
            self._listings = None

    def change_prices(self, ids: Iterable[str], delta: float = 1.0) -> None:
        """Add `delta` USD to each package's price (floored at 0.01); raises KeyError if one is not listed."""
        with self._lock:
            ids = list(ids)
            missing = [i for i in ids if i not in self._active]
            if missing:
                raise KeyError(f"not listed: {missing}")
            for package_id in ids:
                entry = self._active[package_id]
                price = round(max(0.01, entry.package["price"] + delta), 2)
                self._active[package_id] = _Entry({**entry.package, "price": price}, entry.nodes)
            self._listings = None

    def set_requirements(self, ids: Iterable[str], *, travel_date: bool) -> None:
        """Mark packages as needing (or not) a travel date; raises KeyError if one is not listed."""
        with self._lock:
            for package_id in ids:
                entry = self._active[package_id]
                package = {k: v for k, v in entry.package.items() if k != "requirements"}
                if travel_date:
                    package["requirements"] = {"travelDate": True}
                self._active[package_id] = _Entry(package, entry.nodes)

    def add_packages(self, n: int) -> list[str]:
        """List `n` new packages whose ids were never listed before; return their ids in catalog order."""
        with self._lock:
            self._batches += 1
            known = set(self._active) | set(self._removed)
            fresh = _generate(n, self._seed, batch=self._batches, exclude=known)
            self._store(fresh)
            return [package["packageId"] for package in fresh]

    def inject_raw_packages(self, page: int, raw_packages: list[Any] | None) -> None:
        """Append raw PACKAGE records (e.g. `malformed_packages()`, `out_of_range_packages()`, or
        records holding RawNumber literals) to the first node of that page; None removes them."""
        with self._lock:
            if raw_packages is None:
                self._raw_injections.pop(page, None)
            else:
                self._raw_injections[page] = copy.deepcopy(raw_packages)

    def _remove_first_node_of(self, page: int, page_size: int) -> None:
        """The shift fault: the first node listed on `page` leaves the catalog (call with the lock)."""
        pages = self._paged(self._all_listings(), page_size)
        if len(pages) < page:
            return
        first_slug = pages[page - 1][0][0]
        for package_id, entry in list(self._active.items()):
            if first_slug not in entry.nodes:
                continue
            others = tuple(n for n in entry.nodes if n != first_slug)
            if others:
                self._active[package_id] = _Entry(entry.package, others)
            else:
                self._removed[package_id] = self._active.pop(package_id)
                self.shift_removed.append(package_id)
        self._listings = None

    # ---- orders and faults ---------------------------------------------------------------------

    @property
    def orders(self) -> list[dict[str, Any]]:
        """A copy of every order the simulator created, oldest first (including ones answered 500)."""
        with self._lock:
            return copy.deepcopy(self._orders)

    def reset_faults(self) -> None:
        """Switch every fault off and reseed the fault generator (the readings stay as they are)."""
        with self._lock:
            self.faults = Faults()
            self._fault_rng = random.Random(self._seed)

    def reset_counts(self) -> None:
        """Forget the per-(method, path) request counts and the injected-fault counts."""
        with self._lock:
            self.request_counts.clear()
            self.injected_counts.clear()

    # ---- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self.wsgi_app(environ, start_response)

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """The WSGI entry point. Every answer is JSON (but the proxy and garbled-answer faults' pages);
        a socket fault that matches is played on the raw connection instead."""
        request = Request(environ)
        if request.path.startswith(CONTROL_PREFIX) and self.control is not None:
            return self.control(request)(environ, start_response)
        raw: RawConnection | None = environ.get(RAW_CONNECTION)
        fault = self._socket_fault(request) if raw is not None else None
        if fault is not None and fault.before_response:
            self.injected_counts["socket reset before response"] += 1
            assert raw is not None  # noqa: S101 - narrowed above
            # Read the body, unused: werkzeug drains what is left on the socket after the app and
            # would block there on a body still in flight, holding the reset until the client gives up.
            request.get_data()
            raw.reset()
            return discarded(start_response)
        response = self._respond(request)
        if fault is not None and raw is not None:
            self._play(fault, response, raw, request)
            return discarded(start_response)
        return response(environ, start_response)

    def _socket_fault(self, request: Request) -> SocketFault | None:
        page = page_of(request)
        with self._lock:
            for fault in self.faults.socket_faults:
                if not fault.matches(request.method, request.path, page):
                    continue
                if fault.rate < 1.0 and self._fault_rng.random() >= fault.rate:
                    continue
                if fault.count > 0:
                    fault.count -= 1
                return fault
        return None

    def _play(self, fault: SocketFault, response: Response, raw: RawConnection, request: Request) -> None:
        if (request.method, request.path) == ORDER_CREATE:
            self._mark_late_from_create(response)
        self.injected_counts[f"socket {fault.kind}"] += 1
        send_faulted(fault, response, raw)

    def _mark_late_from_create(self, response: Response) -> None:
        """A create whose answer is lost: its order (if one was made) becomes a late commit."""
        try:
            order_id = json.loads(response.get_data())["data"]["id"]
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            self._make_late(order_id)

    def _make_late(self, order_id: str) -> None:
        if self.faults.late_visible_seconds > 0:
            self._visible_at[order_id] = self._clock() + self.faults.late_visible_seconds
        else:
            self._late.add(order_id)

    def _respond(self, request: Request) -> Response:
        with self._lock:
            self.request_counts[(request.method, request.path)] += 1
        if self.faults.slow_seconds > 0:
            time.sleep(self.faults.slow_seconds)
        if self.faults.outage:
            return _failed(self.faults.outage_status, "Service Unavailable")
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _failed(401, "Unauthorized")
        handler = self._routes.get((request.method, request.path))
        try:
            injected = self._injected_failure(request)
            return injected or (handler(request) if handler else _failed(404, "Not found"))
        except BadRequest as exc:
            return _failed(400, str(exc))

    def _injected_failure(self, request: Request) -> Response | None:
        """A 429 or random 500 that applies to any authorised request (random 500s: to order
        creations only, with `random_500_creates_only`), consuming the fault; else None."""
        with self._lock:
            faults = self.faults
            if faults.rate_limit_remaining_429 > 0:
                faults.rate_limit_remaining_429 -= 1
                return _failed(429, "Too Many Requests", {"Retry-After": str(faults.retry_after_seconds)})
            hit = not faults.random_500_creates_only or (request.method, request.path) == ORDER_CREATE
            if hit and faults.random_500_rate > 0 and self._fault_rng.random() < faults.random_500_rate:
                self.injected_counts["random 500"] += 1
                return _failed(500, "Internal server error")
        return None

    # ---- packages ------------------------------------------------------------------------------

    def _sorted_listings(self) -> list[tuple[int, str, str]]:
        """The flat (node order, packageId, slug) list pages cut from; rebuilt only after a mutation."""
        if self._listings is None:
            order = node_order()
            listings = [
                (order[slug], package_id, slug)
                for package_id, entry in self._active.items()
                for slug in entry.nodes
            ]
            listings.sort()
            ranges: dict[str, tuple[float, float]] = {}
            for _, package_id, slug in listings:
                price = self._active[package_id].package["price"]
                low, high = ranges.get(slug, (price, price))
                ranges[slug] = (min(low, price), max(high, price))
            self._listings, self._price_ranges = listings, ranges
        return self._listings

    def _all_listings(self) -> list[tuple[str, str | None]]:
        return [(slug, pid) for _, pid, slug in self._sorted_listings()]

    def _paged(
        self, listings: list[tuple[str, str | None]], page_size: int, null_page: int | None = None
    ) -> list[list[tuple[str, str | None]]]:
        """Cut listings into pages as the reading says pageSize counts; a None packageId is a `null`
        entry (the null_record_page fault), which takes a slot like any other."""
        if self.readings.page_size_counts == "nodes":
            groups: list[list[tuple[str, str | None]]] = []
            for slug, pid in listings:
                if not groups or groups[-1][0][0] != slug:
                    groups.append([])
                groups[-1].append((slug, pid))
            pages = [
                [listing for group in groups[i : i + page_size] for listing in group]
                for i in range(0, len(groups), page_size)
            ]
            if null_page is not None and 0 < null_page <= len(pages):
                first = pages[null_page - 1][0][0]
                pages[null_page - 1].insert(0, (first, None))
            return pages
        if null_page is not None:
            at = (null_page - 1) * page_size
            if 0 <= at < len(listings):
                listings = [*listings[:at], (listings[at][0], None), *listings[at:]]
        return [listings[i : i + page_size] for i in range(0, len(listings), page_size)]

    def _packages_page(self, request: Request) -> Response:
        page = _int_arg(request, "page", 1)
        page_size = _int_arg(request, "pageSize", self.page_size_default, MAX_PAGE_SIZE)
        filtered = any(request.args.get(k) for k in ("packageId", "country", "countryCode", "geography"))
        if self.faults.fail_page == page and not filtered:
            return _failed(self.faults.fail_page_status, "Internal server error")
        with self._lock:
            if filtered:
                listings: list[tuple[str, str | None]] = list(self._filtered_listings(request))
                unknown = request.args.get("packageId") and not listings
                if unknown and self.readings.unknown_package_answer == "404":
                    return _failed(404, "Package not found")
                pages = self._paged(listings, page_size)
            else:
                pages = self._paged(self._all_listings(), page_size, self.faults.null_record_page)
            chosen = pages[page - 1] if page <= len(pages) else []
            nodes = self._group_by_node(chosen)
            injected = copy.deepcopy(self._raw_injections.get(page, [])) if not filtered else []
            if injected:
                if not nodes:  # an empty page still needs a node to carry the injected records
                    nodes.append({**country_nodes()[0], "minPrice": 0, "maxPrice": 0, "packages": []})
                nodes[0]["packages"] = nodes[0]["packages"] + injected
            shift = not filtered and self.faults.shift_after_page == page
            if shift:
                self.faults.shift_after_page = None
                self._remove_first_node_of(page, page_size)
                self.injected_counts["catalog shift"] += 1
            if not filtered and self.faults.null_record_page == page and chosen:
                self.injected_counts["null record"] += 1
            hook = self.faults.on_page_served if not filtered else None
            # stored package dicts are replaced, never mutated, so serialising them outside the lock is safe
        response = _success({"packages": nodes})
        if hook is not None:
            hook(page)
        return response

    def _filtered_listings(self, request: Request) -> list[tuple[str, str]]:
        """(slug, packageId) listings matching the packageId, or the country (a name), countryCode and
        geography filters. A country or code not in the countries list is refused (400), as Roamify
        has refused free text since mid-2026."""
        table = node_table()
        package_id = request.args.get("packageId", "")
        country = request.args.get("country", "")
        code = request.args.get("countryCode", "")
        geography = request.args.get("geography", "")
        if country and country not in {n["countryName"] for n in table.values()}:
            raise BadRequest(f"unknown country {country!r}: use a name from /api/esim/countries")
        if code and code not in {n["countryCode"] for n in table.values()}:
            raise BadRequest(f"unknown countryCode {code!r}: use a code from /api/esim/countries")
        if geography and geography not in ("local", "regional", "global"):
            raise BadRequest("geography must be local, regional or global")
        if package_id:  # the other filters are ignored then
            return [(slug, pid) for _, pid, slug in self._sorted_listings() if pid == package_id]
        return [
            (slug, pid)
            for _, pid, slug in self._sorted_listings()
            if (not country or table[slug]["countryName"] == country)
            and (not code or table[slug]["countryCode"] == code)
            and (not geography or table[slug]["geography"] == geography)
        ]

    def _group_by_node(self, listings: list[tuple[str, str | None]]) -> list[dict[str, Any]]:
        """COUNTRY dicts for a page's listings; each node appears once since listings are node-sorted."""
        nodes: list[dict[str, Any]] = []
        table = node_table()
        for slug, package_id in listings:
            if not nodes or nodes[-1]["countrySlug"] != slug:
                low, high = self._price_ranges.get(slug, (0, 0))
                node = copy.deepcopy(table[slug])
                nodes.append({**node, "minPrice": low, "maxPrice": high, "packages": []})
            nodes[-1]["packages"].append(None if package_id is None else self._active[package_id].package)
        return nodes

    def _countries(self, request: Request) -> Response:
        geography = request.args.get("geography", "")
        if geography and geography not in ("local", "regional", "global"):
            raise BadRequest("geography must be local, regional or global")
        countries = [
            {"code": node["countryCode"], "name": node["countryName"]}
            for node in node_table().values()
            if not geography or node["geography"] == geography
        ]
        return _success({"countries": countries})

    # ---- orders --------------------------------------------------------------------------------

    def _new_order(self, items: list[tuple[str, int]], reference_id: str | None) -> dict[str, Any]:
        now = int(self._clock())
        esims = [
            {
                "esimId": str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4)),
                "packageId": package_id,
                "package": self._active[package_id].package["package"],
                "type": "esim",
                "price": self._active[package_id].package["price"],
                "currency": "USD",
                "createdAt": now,
                "updatedAt": now,
            }
            for package_id, quantity in items
            for _ in range(quantity)  # one eSIM per unit ordered
        ]
        return {
            "id": str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4)),
            "referenceId": reference_id,
            "orderType": "api",
            "status": "COMPLETED",
            "total": round(sum(e["price"] for e in esims), 2),
            "currency": "USD",
            "createdAt": now,
            "updatedAt": now,
            "items": esims,
        }

    def _create_order(self, request: Request) -> Response:
        items, reference_id = _parse_order_body(request.get_data())
        with self._lock:
            if any(package_id not in self._active for package_id, _ in items):
                return _failed(500, "Unknown error")  # what Roamify answers for an unknown/stale id
            faults = self.faults
            order = self._new_order(self._answer_fault_items(items), reference_id)
            if faults.order_answer_next > 0:
                faults.order_answer_next -= 1
                self.injected_counts[f"order answer {faults.order_answer}"] += 1
                if faults.order_answer == "cancelled":
                    order["status"] = "CANCELLED"
            self._orders.append(order)  # no dedupe on referenceId: a second POST is a second order
            if faults.proxy_error_next > 0 or faults.garbled_ok_next > 0:
                self._make_late(order["id"])
                if faults.proxy_error_next > 0:
                    faults.proxy_error_next -= 1
                    status, page = faults.proxy_error_status, "<html><body>Gateway error</body></html>"
                else:
                    faults.garbled_ok_next -= 1
                    status, page = 200, "<html><body>OK</body></html>"
                return Response(page, status=status, mimetype="text/html")
            fail_after_commit = faults.error_after_commit_next > 0 or (
                faults.error_after_commit_rate > 0
                and self._fault_rng.random() < faults.error_after_commit_rate
            )
            hang_after_commit = not fail_after_commit and faults.timeout_after_commit_next > 0
            if fail_after_commit:
                self.injected_counts["500 after commit"] += 1
                faults.error_after_commit_next = max(0, faults.error_after_commit_next - 1)
                if faults.late_visible_seconds > 0:
                    self._make_late(order["id"])
            elif hang_after_commit:
                faults.timeout_after_commit_next -= 1
                if faults.late_visible_seconds > 0:
                    self._make_late(order["id"])
            body = copy.deepcopy(order)
        if fail_after_commit:
            return _failed(500, "Unknown error")
        if hang_after_commit:
            time.sleep(faults.timeout_seconds)
        return _success(body)

    def _answer_fault_items(self, items: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """The items an order is created with: those asked for, unless an answer-content fault
        (other_package, fewer_items) is due (call with the lock held)."""
        faults = self.faults
        if faults.order_answer_next <= 0:
            return items
        if faults.order_answer == "other_package":
            asked = {package_id for package_id, _ in items}
            other = next(pid for pid in sorted(self._active) if pid not in asked)
            return [(other, quantity) for _, quantity in items]
        if faults.order_answer == "fewer_items":
            return [(package_id, quantity - 1) for package_id, quantity in items]
        return items

    def _get_order(self, request: Request) -> Response:
        order_id, reference_id = request.args.get("orderId"), request.args.get("referenceId")
        if not order_id and not reference_id:
            raise BadRequest("orderId or referenceId is required")
        with self._lock:
            if self.faults.lookup_500_next > 0:
                self.faults.lookup_500_next -= 1
                return _failed(500, "Internal server error")
            if self.faults.lookup_404_next > 0:
                self.faults.lookup_404_next -= 1
                self.injected_counts["lookup 404"] += 1
                return _failed(404, "Order not found")
            # the oldest match wins when a referenceId was (wrongly) used twice
            key, wanted = ("id", order_id) if order_id else ("referenceId", reference_id)
            body = copy.deepcopy(next((o for o in self._visible_orders() if o[key] == wanted), None))
            answer = self.readings.unknown_order_answer
        if body is not None:
            return _success(body)
        if answer == "null":
            return _success(None)
        if answer == "empty":
            return _success({})
        return _failed(404, "Order not found")

    def _visible_orders(self) -> list[dict[str, Any]]:
        """The orders a lookup sees (call with the lock held): all but late commits, which this lookup
        misses (and the next one sees) or, with late_visible_seconds, which are not visible yet."""
        now = self._clock()
        visible = [
            o for o in self._orders if o["id"] not in self._late and self._visible_at.get(o["id"], 0) <= now
        ]
        self._late.clear()
        return visible

    def _list_orders(self, request: Request) -> Response:
        reference_id, status = request.args.get("referenceId"), request.args.get("status")
        limit = _int_arg(request, "limit", 50, MAX_PAGE_SIZE)
        with self._lock:
            matching = [
                copy.deepcopy(o)
                for o in reversed(self._visible_orders())  # newest first
                if (not reference_id or o["referenceId"] == reference_id)
                and (not status or o["status"] == status.upper())
            ]
        return _success({"orders": matching[:limit]})
