"""A Roamify API simulator for development and tests; never imported by the Lambda package.

It speaks the documented Roamify API (docs/ROAMIFY_API.md): paged, country-grouped packages,
orders with ``referenceId``, order lookup and health, over a deterministic generated catalog.
Tests mutate the catalog between runs and switch faults on and off while the server runs.

Run it alone with ``python -m roamsync_dev.simulator --port 4010 --size 500 --seed 7``.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import random
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from roamsync_dev.serving import RunningServer, serve_wsgi

UNLIMITED_DATA_AMOUNT = 9007199254740991  # JavaScript's Number.MAX_SAFE_INTEGER, as Roamify sends it
NODES_KEY = "_countryNodes"  # not a Roamify field: the countrySlugs a generated package is listed under
MAX_PAGE_SIZE = 1000
ORDER_CREATE = ("POST", "/api/esim/order")

# "CODE Name" by region. Afghanistan's AF also names the "Africa Adventure" region: upstream codes clash.
_COUNTRIES_BY_REGION: dict[str, str] = {
    "Europe": "SE Sweden, NO Norway, DK Denmark, FI Finland, DE Germany, FR France, ES Spain, PT Portugal, "
    "IT Italy, GR Greece, NL Netherlands, BE Belgium, AT Austria, CH Switzerland, PL Poland, CZ Czechia, "
    "IE Ireland, GB United Kingdom, HR Croatia, HU Hungary, RO Romania, IS Iceland",
    "Asia": "JP Japan, KR South Korea, CN China, HK Hong Kong, TW Taiwan, TH Thailand, VN Vietnam, "
    "KH Cambodia, ID Indonesia, MY Malaysia, SG Singapore, PH Philippines, IN India, LK Sri Lanka, "
    "AF Afghanistan",
    "Middle East": "AE United Arab Emirates, SA Saudi Arabia, QA Qatar, IL Israel, JO Jordan, TR Turkey",
    "Africa": "ZA South Africa, EG Egypt, MA Morocco, KE Kenya, NG Nigeria, TZ Tanzania, GH Ghana",
    "Americas": "US United States, CA Canada, MX Mexico, BR Brazil, AR Argentina, CL Chile, CO Colombia, "
    "PE Peru",
    "Oceania": "AU Australia, NZ New Zealand, FJ Fiji",
}
_COUNTRIES: tuple[tuple[str, str, str], ...] = tuple(
    (entry[:2], entry[3:], region)
    for region, entries in _COUNTRIES_BY_REGION.items()
    for entry in entries.split(", ")
)

# (code, name, region, member country codes); codes deliberately clash with ISO codes as upstream's do.
_REGIONS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("EU", "Europe", "Europe", tuple(c for c, _, r in _COUNTRIES if r == "Europe")),
    ("AF", "Africa Adventure", "Africa", tuple(c for c, _, r in _COUNTRIES if r == "Africa")),
    ("AP", "Asia Pacific", "Asia", tuple(c for c, _, r in _COUNTRIES if r in ("Asia", "Oceania"))),
    ("ME", "Middle East", "Middle East", tuple(c for c, _, r in _COUNTRIES if r == "Middle East")),
    ("LA", "Latin America", "Americas", ("MX", "BR", "AR", "CL", "CO", "PE")),
    ("NA", "North America", "Americas", ("US", "CA", "MX")),
)

_LOCAL_GBS = (1, 3, 5, 10, 20, 50, 100)
_LOCAL_DAYS = (7, 15, 30, 90)
_UNLIMITED_DAYS = (1, 3, 7, 15, 30)
_GLOBAL_GBS = (1, 3, 5, 10, 20)


def _slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@functools.cache
def _node_table() -> dict[str, dict[str, Any]]:
    """Every country node's metadata keyed by countrySlug (slugs are unique, codes are not)."""
    names = {code: name for code, name, _ in _COUNTRIES}

    def signal(code: str, index: int) -> dict[str, Any]:
        networks = ["4G", "5G"] if index % 3 else ["3G", "4G"]
        carriers = [f"{names[code]} Telecom", f"{names[code]} Mobile"]
        return {"code": code, "name": names[code], "networks": networks, "carriers": carriers}

    rows: list[tuple[str, str, str, str, list[dict[str, Any]]]] = [
        (code, name, region, "local", [signal(code, i)]) for i, (code, name, region) in enumerate(_COUNTRIES)
    ]
    rows += [
        (code, name, region, "regional", [signal(m, i) for i, m in enumerate(members)])
        for code, name, region, members in _REGIONS
    ]
    rows.append(
        ("GL", "Global", "Global", "global", [signal(c, i) for i, (c, _, _) in enumerate(_COUNTRIES)])
    )
    table: dict[str, dict[str, Any]] = {}
    for node_id, (code, name, region, geography, signals) in enumerate(rows, start=1):
        slug = _slugify(name)
        table[slug] = {
            "id": node_id,
            "countryName": name,
            "countryCode": code,
            "countrySlug": slug,
            "region": region,
            "geography": geography,
            "image": f"https://sim.roamify.invalid/images/{slug}.png",
            "signals": signals,
        }
    return table


def country_nodes() -> list[dict[str, Any]]:
    """Return a copy of every country node's metadata (no packages, no prices), in node-id order."""
    return copy.deepcopy(list(_node_table().values()))


@dataclass(frozen=True)
class _Plan:
    """One natural combination of a catalog, before it is given an id suffix and turned into a PACKAGE."""

    base_id: str
    nodes: tuple[str, ...]
    label: str
    days: int
    gb: int | None  # None means unlimited
    voice: bool = False
    throttled: bool = False
    tier: float = 1.0

    @property
    def price(self) -> float:
        """USD price, rising with data and days; unlimited priced per day."""
        if self.gb is None:
            base = 3.2 * self.days**0.85 * (0.75 if self.throttled else 1.0)
        else:
            base = (1.8 + 1.5 * self.gb**0.8) * (1 + 0.3 * math.log2(self.days / 7))
        return round(float(self.tier * base) + (4.0 if self.voice else 0.0), 2)

    @property
    def display_name(self) -> str:
        data = "Unlimited" if self.gb is None else f"{self.gb}GB"
        extra = " (FUP)" if self.throttled else ""
        voice = " + Voice & SMS" if self.voice else ""
        return f"{self.label} {data}{extra} {self.days} Days{voice}"


@functools.cache
def _natural_pools(seed: int) -> tuple[tuple[_Plan, ...], tuple[_Plan, ...], tuple[_Plan, ...]]:
    """The local, regional and global combinations a seed's catalog draws from (shape fixed per seed)."""
    rng = random.Random(seed)
    slug_by_code = {code: _slugify(name) for code, name, _ in _COUNTRIES}
    local: list[_Plan] = []
    for _, name, _ in _COUNTRIES:
        slug, tier = _slugify(name), round(rng.uniform(0.8, 2.2), 2)
        for gb in _LOCAL_GBS:
            for days in _LOCAL_DAYS:
                local.append(_Plan(f"esim-{slug}-{days}days-{gb}gb-all", (slug,), name, days, gb, tier=tier))
        if rng.random() < 0.35:  # only some countries sell voice + SMS bundles
            for gb in (3, 10, 20):
                local.append(
                    _Plan(f"esim-{slug}-30days-{gb}gb-voice", (slug,), name, 30, gb, True, tier=tier)
                )
        if rng.random() < 0.6:  # and only some sell unlimited plans, a few with a fair-use throttle
            for days in _UNLIMITED_DAYS:
                local.append(
                    _Plan(f"esim-{slug}-{days}days-unlimited-all", (slug,), name, days, None, tier=tier)
                )
            if rng.random() < 0.5:
                for days in (7, 30):
                    base_id = f"esim-{slug}-{days}days-unlimited-fup-all"
                    local.append(_Plan(base_id, (slug,), name, days, None, throttled=True, tier=tier))
    regional: list[_Plan] = []
    for _, name, _, members in _REGIONS:
        slug, tier = _slugify(name), round(rng.uniform(1.2, 1.7), 2)
        member_slugs = [slug_by_code[m] for m in members]
        for gb in _LOCAL_GBS[:-1]:
            for days in _LOCAL_DAYS:
                listed = rng.sample(member_slugs, k=min(len(member_slugs), rng.randint(3, 8)))
                regional.append(
                    _Plan(f"esim-{slug}-{days}days-{gb}gb-all", (slug, *listed), name, days, gb, tier=tier)
                )
    global_: list[_Plan] = [
        _Plan(f"esim-global-{days}days-{gb}gb-all", ("global",), "Global", days, gb, tier=2.4)
        for gb in _GLOBAL_GBS
        for days in (7, 15, 30)
    ]
    return tuple(local), tuple(regional), tuple(global_)


def _take(pool: Sequence[_Plan], count: int, exclude: AbstractSet[str]) -> list[tuple[str, _Plan, int]]:
    """Pick `count` plans in pool order; once the pool runs dry, reissue it with `-rN` id suffixes."""
    chosen: list[tuple[str, _Plan, int]] = []
    round_no = 1
    while len(chosen) < count and pool:
        for plan in pool:
            package_id = plan.base_id if round_no == 1 else f"{plan.base_id}-r{round_no}"
            if package_id not in exclude:
                chosen.append((package_id, plan, round_no))
                if len(chosen) == count:
                    break
        round_no += 1
    return chosen


def _package_dict(package_id: str, plan: _Plan, round_no: int, rng: random.Random) -> dict[str, Any]:
    """Build one Roamify-shaped PACKAGE dict (field spelling as upstream), plus the internal nodes key."""
    unlimited = plan.gb is None
    in_gb = not unlimited and rng.random() < 0.1  # a minority of upstream records count data in GB
    data_amount = UNLIMITED_DATA_AMOUNT if plan.gb is None else plan.gb if in_gb else plan.gb * 1024
    apn_automatic = rng.random() < 0.85
    throttle: dict[str, Any] = dict.fromkeys(
        ("throttleSpeed", "throttleSpeedUnit", "throttleThreshold", "throttleThresholdUnit")
    )
    notes = ""
    if plan.throttled:
        speed, speed_unit = rng.choice([(512, "Kbps"), (1, "Mbps")])
        threshold = rng.choice([1, 2, 3])
        throttle = dict(zip(throttle, (speed, speed_unit, threshold, "GB"), strict=True))
        notes = f"High-speed data up to {threshold} GB per day, then {speed} {speed_unit}."
    elif unlimited:
        notes = "Unlimited high-speed data."
    return {
        "packageId": package_id,
        "package": plan.display_name,
        "plan": "data-voice-text" if plan.voice else "data-only",
        "activation": "first-use",
        "day": plan.days,
        "price": round(plan.price + 0.25 * (round_no - 1), 2),
        "isUnlimited": unlimited,
        "dataAmount": data_amount,
        "dataUnit": "GB" if in_gb else "MB",
        "isAPNAutomatic": apn_automatic,
        "apn": "" if apn_automatic else "internet",
        "callType": "incoming-outgoing" if plan.voice else "",
        "callAmount": 60 if plan.voice else 0,
        "callUnit": "min" if plan.voice else "",
        "smsType": "outgoing" if plan.voice else "",
        "smsAmount": 100 if plan.voice else 0,
        "smsUnit": "sms" if plan.voice else "",
        "withSMS": plan.voice,
        "withCall": plan.voice,
        "withHotspot": rng.random() < 0.9,
        "withDataRoaming": True,
        "withDestinationInstall": rng.random() < 0.5,
        "withUsageCheck": True,
        "withThrottle": plan.throttled,
        "throttle": throttle,
        "notes": notes,
        NODES_KEY: list(plan.nodes),
    }


def _generate(size: int, seed: int, batch: int, exclude: AbstractSet[str]) -> list[dict[str, Any]]:
    if size < 0:
        raise ValueError("size must be >= 0")
    rng = random.Random(f"{seed}:{batch}")  # str seeds are stable across runs (no hash randomisation)
    pools = [list(pool) for pool in _natural_pools(seed)]
    for pool in pools:
        rng.shuffle(pool)
    n_global, n_regional = size // 100, size // 12
    counts = (size - n_global - n_regional, n_regional, n_global)
    packages: list[dict[str, Any]] = []
    for pool, count in zip(pools, counts, strict=True):
        for package_id, plan, round_no in _take(pool, count, exclude):
            packages.append(_package_dict(package_id, plan, round_no, rng))
    return packages


def generate_catalog(size: int, seed: int = 7) -> list[dict[str, Any]]:
    """Return exactly `size` Roamify PACKAGE dicts with distinct packageIds, the same for the same seed.

    Each dict also carries ``_countryNodes``: the countrySlugs of the nodes it is listed under (see
    :func:`country_nodes`). About 1/12 are regional (listed under the region and several members) and
    1/100 global. Raises ValueError for a negative size.
    """
    return _generate(size, seed, batch=0, exclude=frozenset())


def malformed_packages() -> list[dict[str, Any]]:
    """Return PACKAGE-like records a parser must reject: no packageId, wrong types, unknown dataUnit."""
    good = _package_dict("esim-sweden-7days-1gb-all", _natural_pools(7)[0][0], 1, random.Random(0))
    good.pop(NODES_KEY)
    no_id = {k: v for k, v in good.items() if k != "packageId"}
    return [
        no_id,
        {**good, "packageId": "esim-bad-types", "price": "cheap", "day": "thirty", "isUnlimited": "yes"},
        {**good, "packageId": "esim-bad-unit", "dataUnit": "TB"},
        {**good, "packageId": 12345},
    ]


@dataclass
class Faults:
    """Fault switches; set any field at any time while the server runs, `reset_faults()` clears them."""

    fail_page: int | None = None  # this packages page answers fail_page_status
    fail_page_status: int = 500
    random_500_rate: float = 0.0  # share of authorised requests answering 500 (seeded, reproducible)
    random_500_creates_only: bool = False  # random_500_rate hits order creations (POST) only
    error_after_commit_rate: float = 0.0  # share of order creations that commit, then answer 500 (seeded)
    outage: bool = False  # every request, health included, answers 503
    slow_seconds: float = 0.0  # sleep before answering any request
    rate_limit_remaining_429: int = 0  # the next N authorised requests answer 429
    retry_after_seconds: int = 1
    error_after_commit_next: int = 0  # the next N order creations commit, then answer 500
    timeout_after_commit_next: int = 0  # the next N order creations commit, then sleep timeout_seconds
    timeout_seconds: float = 5.0
    lookup_500_next: int = 0  # the next N order lookups (GET /api/esim/order) answer 500
    # The next N order creations are answered by a proxy in front of Roamify (`proxy_error_status`,
    # an HTML page, not Roamify's JSON) while Roamify still creates the order: a late commit, which
    # the next order lookup (GET /api/esim/order or /orders) does not see yet; later ones do.
    proxy_error_next: int = 0
    proxy_error_status: int = 504
    # The next N order creations create the order (a late commit, as above) but answer 200 with a
    # body that is not JSON.
    garbled_ok_next: int = 0


class _BadRequest(Exception):
    """A request the simulator answers with 400."""


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status=status, headers=headers, mimetype="application/json")


def _failed(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json(status, {"message": message, "status": "failed"}, headers)


def _success(data: Any) -> Response:
    return _json(200, {"status": "success", "data": data})


def _int_arg(request: Request, name: str, default: int, maximum: int = 10**9) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(f"{name} must be an integer") from None
    if not 1 <= value <= maximum:
        raise _BadRequest(f"{name} must be between 1 and {maximum}")
    return value


def _parse_order_body(raw: bytes) -> tuple[list[tuple[str, int]], str | None]:
    """Return (packageId, quantity) pairs and the referenceId, or raise _BadRequest."""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise _BadRequest("Body must be JSON") from None
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise _BadRequest("items must be a non-empty list")
    parsed: list[tuple[str, int]] = []
    for item in items:
        package_id = item.get("packageId") if isinstance(item, dict) else None
        quantity = item.get("quantity", 1) if isinstance(item, dict) else None
        if not isinstance(package_id, str) or not package_id:
            raise _BadRequest("each item needs a packageId")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise _BadRequest("quantity must be a positive integer")
        parsed.append((package_id, quantity))
    reference_id = body.get("referenceId")
    if reference_id is not None and not isinstance(reference_id, str):
        raise _BadRequest("referenceId must be a string")
    return parsed, reference_id


@dataclass(frozen=True)
class _Entry:
    package: dict[str, Any]  # never mutated once stored: price changes replace it
    nodes: tuple[str, ...]


class RoamifySimulator:
    """An in-memory Roamify: a mutable catalog, an order log, fault switches and a WSGI app over them.

    All state sits behind one lock, so tests may mutate it while the threaded server answers.
    Rotating the key is ``simulator.api_key = "new"``; every request must then send the new one.
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
        self.request_counts: Counter[tuple[str, str]] = Counter()
        self.injected_counts: Counter[str] = Counter()  # "random 500", "500 after commit": faults fired
        self._seed = seed
        self._clock = clock
        self._lock = threading.RLock()
        self._fault_rng = random.Random(seed)
        self._id_rng = random.Random(f"orders:{seed}")
        self._orders: list[dict[str, Any]] = []
        self._late: set[str] = set()  # ids of late-committing orders the next lookup does not see
        self._active: dict[str, _Entry] = {}
        self._removed: dict[str, _Entry] = {}
        self._batches = 0
        self._listings: list[tuple[int, str, str]] | None = None  # (node id, packageId, slug), sorted
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

    def get_package(self, package_id: str) -> dict[str, Any]:
        """Return a copy of a listed package with its ``_countryNodes``; raises KeyError if not listed."""
        with self._lock:
            entry = self._active[package_id]
            return {**copy.deepcopy(entry.package), NODES_KEY: list(entry.nodes)}

    def listing_count(self) -> int:
        """Return how many (country node, package) listings the unfiltered catalog pages through."""
        with self._lock:
            return len(self._sorted_listings())

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
            for package_id in ids:
                entry = self._active[package_id]
                price = round(max(0.01, entry.package["price"] + delta), 2)
                self._active[package_id] = _Entry({**entry.package, "price": price}, entry.nodes)
            self._listings = None

    def add_packages(self, n: int) -> list[str]:
        """List `n` new packages whose ids were never listed before; return their ids in catalog order."""
        with self._lock:
            self._batches += 1
            known = set(self._active) | set(self._removed)
            fresh = _generate(n, self._seed, batch=self._batches, exclude=known)
            self._store(fresh)
            return [package["packageId"] for package in fresh]

    def inject_raw_packages(self, page: int, raw_packages: list[dict[str, Any]] | None) -> None:
        """Append raw PACKAGE records (e.g. :func:`malformed_packages`) to the first node of that page."""
        with self._lock:
            if raw_packages is None:
                self._raw_injections.pop(page, None)
            else:
                self._raw_injections[page] = copy.deepcopy(raw_packages)

    # ---- orders and faults ---------------------------------------------------------------------

    @property
    def orders(self) -> list[dict[str, Any]]:
        """A copy of every order the simulator created, oldest first (including ones answered 500)."""
        with self._lock:
            return copy.deepcopy(self._orders)

    def reset_faults(self) -> None:
        """Switch every fault off and reseed the random-500 generator."""
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
        """The WSGI entry point: every response is JSON (but the proxy and garbled-answer faults' pages)."""
        response = self._respond(Request(environ))
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        with self._lock:
            self.request_counts[(request.method, request.path)] += 1
        if self.faults.slow_seconds > 0:
            time.sleep(self.faults.slow_seconds)
        if self.faults.outage:
            return _failed(503, "Service Unavailable")
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _failed(401, "Unauthorized")
        handler = self._routes.get((request.method, request.path))
        try:
            injected = self._injected_failure(request)
            return injected or (handler(request) if handler else _failed(404, "Not found"))
        except _BadRequest as exc:
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
        """The flat (node id, packageId, slug) list pages cut from; rebuilt only after a mutation."""
        if self._listings is None:
            table = _node_table()
            listings = [
                (table[slug]["id"], package_id, slug)
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

    def _packages_page(self, request: Request) -> Response:
        page = _int_arg(request, "page", 1)
        page_size = _int_arg(request, "pageSize", self.page_size_default, MAX_PAGE_SIZE)
        if self.faults.fail_page == page:
            return _failed(self.faults.fail_page_status, "Internal server error")
        with self._lock:
            listings = self._filtered_listings(request)
            nodes = self._group_by_node(listings[(page - 1) * page_size : page * page_size])
            injected = copy.deepcopy(self._raw_injections.get(page, []))
        if injected:
            if not nodes:  # an empty page still needs a node to carry the injected records
                nodes.append({**country_nodes()[0], "minPrice": 0, "maxPrice": 0, "packages": []})
            nodes[0]["packages"] = nodes[0]["packages"] + injected
        # stored package dicts are replaced, never mutated, so serialising them outside the lock is safe
        return _success({"packages": nodes})

    def _filtered_listings(self, request: Request) -> list[tuple[str, str]]:
        """(slug, packageId) listings matching the countryCode/country, geography and packageId filters."""
        code = (request.args.get("countryCode") or request.args.get("country") or "").upper()
        geography = request.args.get("geography", "")
        package_id = request.args.get("packageId", "")
        table = _node_table()
        return [
            (slug, pid)
            for _, pid, slug in self._sorted_listings()
            if (not package_id or pid == package_id)
            and (not code or table[slug]["countryCode"] == code)
            and (not geography or table[slug]["geography"] == geography)
        ]

    def _group_by_node(self, listings: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """COUNTRY dicts for a page's listings; each node appears once since listings are node-sorted."""
        nodes: list[dict[str, Any]] = []
        for slug, package_id in listings:
            if not nodes or nodes[-1]["countrySlug"] != slug:
                low, high = self._price_ranges[slug]
                node = copy.deepcopy(_node_table()[slug])
                nodes.append({**node, "minPrice": low, "maxPrice": high, "packages": []})
            nodes[-1]["packages"].append(self._active[package_id].package)
        return nodes

    def _countries(self, _request: Request) -> Response:
        fields = ("countryCode", "countryName", "countrySlug", "region", "geography")
        return _success({"countries": [{f: node[f] for f in fields} for node in _node_table().values()]})

    # ---- orders --------------------------------------------------------------------------------

    def _new_order(self, items: list[tuple[str, int]], reference_id: str | None) -> dict[str, Any]:
        now = int(self._clock())
        esims = [
            {
                "esimId": f"esim_{self._id_rng.getrandbits(64):016x}",
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
            "id": f"ord_{self._id_rng.getrandbits(64):016x}",
            "referenceId": reference_id,
            "orderType": "esim",
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
            order = self._new_order(items, reference_id)
            self._orders.append(order)  # no dedupe on referenceId: a second POST is a second order
            faults = self.faults
            if faults.proxy_error_next > 0 or faults.garbled_ok_next > 0:
                self._late.add(order["id"])
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
            elif hang_after_commit:
                faults.timeout_after_commit_next -= 1
            body = copy.deepcopy(order)
        if fail_after_commit:
            return _failed(500, "Unknown error")
        if hang_after_commit:
            time.sleep(faults.timeout_seconds)
        return _success(body)

    def _get_order(self, request: Request) -> Response:
        order_id, reference_id = request.args.get("orderId"), request.args.get("referenceId")
        if not order_id and not reference_id:
            raise _BadRequest("orderId or referenceId is required")
        with self._lock:
            if self.faults.lookup_500_next > 0:
                self.faults.lookup_500_next -= 1
                return _failed(500, "Internal server error")
            # the oldest match wins when a referenceId was (wrongly) used twice
            key, wanted = ("id", order_id) if order_id else ("referenceId", reference_id)
            body = copy.deepcopy(next((o for o in self._visible_orders() if o[key] == wanted), None))
        return _failed(404, "Order not found") if body is None else _success(body)

    def _visible_orders(self) -> list[dict[str, Any]]:
        """The orders a lookup sees (call with the lock held): all but late commits, which this
        lookup misses and the next one sees."""
        visible = [o for o in self._orders if o["id"] not in self._late]
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


# ---- serving -----------------------------------------------------------------------------------


def start_server(
    simulator: RoamifySimulator, host: str = "127.0.0.1", port: int = 0, quiet: bool = True
) -> RunningServer:
    """Serve `simulator` on host:port (0 picks a free port) in a daemon thread; return once it listens."""
    return serve_wsgi(simulator, host, port, name="roamify-simulator", access_log=not quiet)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Serve a simulator in the foreground until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m roamsync_dev.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4010)
    parser.add_argument("--size", type=int, default=500, help="number of packages")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--api-key", default="sim-key")
    parser.add_argument("--page-size-default", type=int, default=50)
    args = parser.parse_args(argv)
    simulator = RoamifySimulator(args.size, args.seed, args.api_key, args.page_size_default)
    signal.signal(signal.SIGTERM, _interrupt)  # a supervisor's TERM stops it as cleanly as Ctrl-C
    server = start_server(simulator, args.host, args.port, quiet=False)
    print(f"Roamify simulator on {server.url} (key {args.api_key!r}, {args.size} packages); Ctrl-C stops it")
    try:
        server.thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
