"""The simulator's catalog: a deterministic, Roamify-shaped set of packages and country nodes.

Shapes follow Roamify's published API to the field: country nodes (`id` a slug such as
"sweden-esims", `countryName`, `countryCode`, `countrySlug`, `region`, `geography`, `signals`, ...)
carrying PACKAGE records (`packageId`, `package`, `day`, `price`, `dataAmount` / `dataUnit`, the
`with*` flags, `throttle`, `notes` as a list, and on a few packages `requirements.travelDate`).
Country codes clash as upstream's do (AF is both Afghanistan and "Africa Adventure").
"""

from __future__ import annotations

import copy
import functools
import math
import random
import re
import zlib
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

UNLIMITED_DATA_AMOUNT = 9007199254740991  # JavaScript's Number.MAX_SAFE_INTEGER, as Roamify sends it
NODES_KEY = "_countryNodes"  # not a Roamify field: the countrySlugs a generated package is listed under

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
TRAVEL_DATE_ONE_IN = 500


def _slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@functools.cache
def node_table() -> dict[str, dict[str, Any]]:
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
    for code, name, region, geography, signals in rows:
        slug = _slugify(name)
        table[slug] = {
            "id": f"{slug}-esims",
            "countryName": name,
            "countryCode": code,
            "countrySlug": slug,
            "region": region,
            "geography": geography,
            "image": f"https://sim.roamify.invalid/images/{slug}.png",
            "signals": signals,
        }
    return table


@functools.cache
def node_order() -> dict[str, int]:
    """Each countrySlug's place in the order pages list nodes in (local countries, regions, global)."""
    return {slug: n for n, slug in enumerate(node_table())}


def country_nodes() -> list[dict[str, Any]]:
    """Return a copy of every country node's metadata (no packages, no prices), in node-id order."""
    return copy.deepcopy(list(node_table().values()))


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
    notes: list[str] = []
    if plan.throttled:
        speed, speed_unit = rng.choice([(512, "Kbps"), (1, "Mbps")])
        threshold = rng.choice([1, 2, 3])
        throttle = dict(zip(throttle, (speed, speed_unit, threshold, "GB"), strict=True))
        notes = [f"High-speed data up to {threshold} GB per day, then {speed} {speed_unit}."]
    elif unlimited:
        notes = ["Unlimited high-speed data."]
    record: dict[str, Any] = {
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
    if zlib.crc32(package_id.encode()) % TRAVEL_DATE_ONE_IN == 0:
        # A few packages (about 30 of Roamify's 28,000) need a travel date before their profile is made.
        record["requirements"] = {"travelDate": True}
    return record


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


class RawNumber:
    """A JSON number literal emitted verbatim: `1e999`, `-1e400`, a 5,000-digit integer, `NaN` —
    numbers Python cannot produce with json.dumps, as a hostile or broken upstream can."""

    def __init__(self, literal: str) -> None:
        self.literal = literal

    def __repr__(self) -> str:
        return f"RawNumber({self.literal!r})"


def out_of_range_packages() -> list[dict[str, Any]]:
    """PACKAGE records, each with a distinct packageId, carrying numbers no store can hold or no plan
    can have: 1e999, 1e300, -1e400, a 5,000-digit integer, NaN."""
    good = _package_dict("esim-sweden-7days-1gb-all", _natural_pools(7)[0][0], 1, random.Random(0))
    good.pop(NODES_KEY)
    huge = RawNumber("9" * 5000)
    return [
        {**good, "packageId": "esim-oor-price-1e999", "price": RawNumber("1e999")},
        {**good, "packageId": "esim-oor-data-1e300", "dataAmount": RawNumber("1e300")},
        {**good, "packageId": "esim-oor-day-huge", "day": huge},
        {**good, "packageId": "esim-oor-price-nan", "price": RawNumber("NaN")},
        {
            **good,
            "packageId": "esim-oor-throttle",
            "withThrottle": True,
            "throttle": {
                "throttleSpeed": RawNumber("-1e400"),
                "throttleSpeedUnit": "kbps",
                "throttleThreshold": 1,
                "throttleThresholdUnit": "gb",
            },
        },
    ]
