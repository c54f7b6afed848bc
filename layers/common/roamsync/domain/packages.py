"""The normalised catalog package and how Roamify's raw records become one."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, KeysView, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

# Fixed namespace: the same reseller_id yields the same package id on every machine and every run.
PACKAGE_NAMESPACE = uuid.UUID("6f1c3f7e-2a57-4c1e-9a43-5d2f0b8e9c11")

# Roamify reports unlimited plans with JavaScript's largest safe integer as their data amount.
UNLIMITED_SENTINEL = 9007199254740991

DATA_UNIT_TO_MB: Mapping[str, Decimal] = {
    "KB": Decimal(1) / Decimal(1024),
    "MB": Decimal(1),
    "GB": Decimal(1024),
    "TB": Decimal(1024 * 1024),
}
SPEED_UNIT_TO_KBPS: Mapping[str, Decimal] = {
    "KBPS": Decimal(1),
    "MBPS": Decimal(1000),
    "GBPS": Decimal(1_000_000),
}

# What a stored number may be. Roamify's catalog stays far inside these; a record outside them is
# garbled (or hostile: `1e300` MB, an infinite price) and is skipped, never written: DynamoDB refuses
# numbers past 38 digits, and nothing sensible can be sold from such a record.
MAX_PRICE = Decimal(100_000)
MAX_VALIDITY_DAYS = 3650
MAX_DATA_MB = 10**9  # about a petabyte; the unlimited sentinel is recognised before this check
MAX_SPEED_KBPS = 10**8  # 100 Gbit/s
OUT_OF_RANGE = "out_of_range"
UNREADABLE_RECORD = "unreadable_record"

Geography = Literal["local", "regional", "global"]
PackageStatus = Literal["active", "inactive"]
ResellerId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
CountryCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=2, max_length=8)
]


def package_uuid(reseller_id: str) -> str:
    """The stable package id: uuid5 of the project namespace and the Roamify packageId."""
    return str(uuid.uuid5(PACKAGE_NAMESPACE, reseller_id))


class Package(BaseModel):
    """One sellable Roamify package, as stored in the Packages table.

    The content fields come from upstream and feed `content_hash`; the lifecycle fields
    (`status` and the timestamps) are roamsync's own and never change the hash.
    """

    model_config = ConfigDict(frozen=True)

    reseller_id: ResellerId
    id: str
    name: str
    country_code: str
    country_name: str
    region: str
    geography: Geography
    coverage: tuple[str, ...]
    data_mb: int | None
    unlimited: bool
    validity_days: int
    price: Decimal
    currency: str
    with_sms: bool
    with_call: bool
    with_hotspot: bool
    throttled: bool
    throttle_speed_kbps: int | None = None
    throttle_threshold_mb: int | None = None
    content_hash: str = ""

    status: PackageStatus = "active"
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    deactivated_at: datetime | None = None
    updated_at: datetime | None = None

    def content(self) -> dict[str, Any]:
        """The upstream facts, in a canonical JSON-ready form."""
        return {
            "reseller_id": self.reseller_id,
            "name": self.name,
            "country_code": self.country_code,
            "country_name": self.country_name,
            "region": self.region,
            "geography": self.geography,
            "coverage": sorted(self.coverage),
            "data_mb": self.data_mb,
            "unlimited": self.unlimited,
            "validity_days": self.validity_days,
            "price": format(self.price.normalize(), "f"),
            "currency": self.currency,
            "with_sms": self.with_sms,
            "with_call": self.with_call,
            "with_hotspot": self.with_hotspot,
            "throttled": self.throttled,
            "throttle_speed_kbps": self.throttle_speed_kbps,
            "throttle_threshold_mb": self.throttle_threshold_mb,
        }

    @property
    def spans_beyond_its_country(self) -> bool:
        """Covers anything but exactly its own country: regional and global plans, multi-country
        local ones. Only these can stand in for a package of another country."""
        return {code.strip().upper() for code in self.coverage} != {self.country_code.strip().upper()}

    def compute_hash(self) -> str:
        canonical = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def with_hash(self) -> Package:
        return self.model_copy(update={"content_hash": self.compute_hash()})


class _RawThrottle(BaseModel):
    throttleSpeed: Decimal | None = None
    throttleSpeedUnit: str | None = None
    throttleThreshold: Decimal | None = None
    throttleThresholdUnit: str | None = None

    @field_validator("throttleSpeed", "throttleThreshold", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("a number is required")
        return value


class RawPackage(BaseModel):
    """A PACKAGE record exactly as Roamify spells it; only the fields roamsync uses are checked.

    Types are checked here; ranges in `normalise_record`, so that a number outside them is reported
    as `out_of_range` rather than as a type error.
    """

    model_config = ConfigDict(extra="ignore", strict=False)

    packageId: ResellerId
    package: str = Field(min_length=1)
    day: int
    price: Decimal
    isUnlimited: bool = False
    dataAmount: Decimal | None = None
    dataUnit: str | None = None
    withSMS: bool = False
    withCall: bool = False
    withHotspot: bool = False
    withThrottle: bool = False
    throttle: _RawThrottle | None = None

    @field_validator("day", mode="before")
    @classmethod
    def _integral_days(cls, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("day must be a whole number")
        return value

    @field_validator("price", "dataAmount", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("a number is required")
        return value


class RawCountry(BaseModel):
    """A COUNTRY node of the paged response; its packages are validated one by one later."""

    model_config = ConfigDict(extra="ignore")

    countryCode: CountryCode
    countryName: str = ""
    region: str | None = None
    geography: str | None = None
    signals: list[dict[str, Any]] = Field(default_factory=list)
    packages: list[Any] = Field(default_factory=list)


@dataclass(frozen=True)
class CatalogPage:
    """One page of Roamify's catalog: its raw country nodes and how many package entries they held
    (`listings`: every entry of every node's `packages`, readable or not)."""

    number: int
    nodes: list[Any]
    listings: int

    def is_last(self, page_size: int) -> bool:
        """Roamify's own rule, "a page with fewer results than pageSize is the last", read both ways
        (its docs do not say whether pageSize counts country nodes or packages): the page is the last
        only when it is short by both counts. An empty page is always the end."""
        return len(self.nodes) < page_size and self.listings < page_size


class _Listed(NamedTuple):
    """A normalised package as a snapshot keeps it: compact (its JSON), with the rank of the listing
    that gave it its fields and its hash, which is all the diff reads."""

    rank: tuple[int, int]
    package_json: str
    content_hash: str


class NormalisedCatalog:
    """The outcome of normalising a snapshot: packages by reseller_id and what could not be read.

    A package listed under several country nodes is one package: its fields come from the listing
    that ranks first (the lowest page number, then position on the page), whatever order the pages
    arrive in, and its coverage is the union of every listing's. Packages are held as JSON (a
    50,000-package catalog in a fraction of the memory of as many models) and turned back into
    `Package` on demand.
    """

    def __init__(self) -> None:
        self._listed: dict[str, _Listed] = {}
        self.skipped = 0
        self.skip_reasons: Counter[str] = Counter()
        # packageIds seen upstream whose records could not be read: never deactivated because of that.
        self.unreadable_ids: set[str] = set()

    @classmethod
    def of(cls, packages: Iterable[Package], unreadable: Iterable[str] = ()) -> NormalisedCatalog:
        """A catalog holding exactly these packages (ranked in the given order)."""
        catalog = cls()
        for n, package in enumerate(packages):
            catalog.add(package.with_hash(), (0, n))
        catalog.unreadable_ids.update(unreadable)
        return catalog

    def __len__(self) -> int:
        return len(self._listed)

    def __contains__(self, reseller_id: object) -> bool:
        return reseller_id in self._listed

    def ids(self) -> KeysView[str]:
        return self._listed.keys()

    def hash_of(self, reseller_id: str) -> str | None:
        listed = self._listed.get(reseller_id)
        return listed.content_hash if listed else None

    def get(self, reseller_id: str) -> Package | None:
        listed = self._listed.get(reseller_id)
        return Package.model_validate_json(listed.package_json) if listed else None

    @property
    def packages(self) -> Mapping[str, Package]:
        """Every package by reseller_id, each built when read."""
        return _PackageView(self)

    def add(self, package: Package, rank: tuple[int, int]) -> None:
        """Fold one listing in (`package` carries its hash); see the class docstring."""
        seen = self._listed.get(package.reseller_id)
        if seen is None:
            self._store(package, rank)
            return
        earlier = Package.model_validate_json(seen.package_json)
        coverage = tuple(sorted(set(earlier.coverage) | set(package.coverage)))
        first, first_rank = (package, rank) if rank < seen.rank else (earlier, seen.rank)
        if first is earlier and coverage == earlier.coverage:
            return  # nothing this listing adds
        self._store(first.model_copy(update={"coverage": coverage}).with_hash(), first_rank)

    def forget(self, reseller_id: str) -> None:
        """Leave `reseller_id` out of this snapshot as if its record had been unreadable: the sync
        neither updates nor deactivates it (what the pages showed of it could not be confirmed)."""
        self._listed.pop(reseller_id, None)
        self.unreadable_ids.add(reseller_id)

    def replace(self, package: Package) -> None:
        """Put `package` (a fresh listing read on its own) in place of whatever the pages said."""
        self._listed.pop(package.reseller_id, None)
        self._store(package.with_hash(), (-1, 0))

    def _store(self, package: Package, rank: tuple[int, int]) -> None:
        # Defaults (nulls, "active", the lifecycle fields) are left out of the JSON: they come back
        # on reading, and a 50,000-package snapshot is smaller by a fifth.
        self._listed[package.reseller_id] = _Listed(
            rank, package.model_dump_json(exclude_defaults=True), package.content_hash
        )
        self.unreadable_ids.discard(package.reseller_id)


class _PackageView(Mapping[str, Package]):
    def __init__(self, catalog: NormalisedCatalog) -> None:
        self._catalog = catalog

    def __getitem__(self, reseller_id: str) -> Package:
        package = self._catalog.get(reseller_id)
        if package is None:
            raise KeyError(reseller_id)
        return package

    def __iter__(self) -> Iterator[str]:
        return iter(self._catalog.ids())

    def __len__(self) -> int:
        return len(self._catalog)


class SkippedRecord(ValueError):
    """A raw record that cannot become a Package; `reason` is a short, countable label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def _in_range(value: Decimal | int, low: Decimal | int, high: Decimal | int, what: str) -> None:
    """Raise SkippedRecord("out_of_range") unless low <= value <= high (and finite)."""
    if isinstance(value, Decimal) and not value.is_finite():
        raise SkippedRecord(OUT_OF_RANGE, f"{what} is not finite")
    if not low <= value <= high:
        # A huge int is never turned into text (Python refuses past 4,300 digits): say its size.
        shown = (
            f"{value:.3e}"
            if isinstance(value, Decimal)
            else value
            if abs(value) < 10**18
            else "a huge number"
        )
        raise SkippedRecord(OUT_OF_RANGE, f"{what} {shown} is outside {low}..{high}")


def _to_mb(amount: Decimal, unit: str | None, what: str = "dataAmount") -> int:
    factor = DATA_UNIT_TO_MB.get((unit or "MB").strip().upper())
    if factor is None:
        raise SkippedRecord("unknown_data_unit", str(unit))
    _in_range(amount, 0, MAX_DATA_MB * 1024, what)  # before the multiplication: keep Decimal small
    mb = int((amount * factor).to_integral_value())
    _in_range(mb, 0, MAX_DATA_MB, what)
    return mb


def _to_kbps(amount: Decimal | None, unit: str | None) -> int | None:
    if amount is None:
        return None
    factor = SPEED_UNIT_TO_KBPS.get((unit or "kbps").strip().upper())
    if factor is None:
        raise SkippedRecord("unknown_throttle_unit", str(unit))
    _in_range(amount, 0, MAX_SPEED_KBPS, "throttleSpeed")
    kbps = int((amount * factor).to_integral_value())
    _in_range(kbps, 0, MAX_SPEED_KBPS, "throttleSpeed")
    return kbps


def _geography(value: str | None) -> Geography:
    match (value or "local").strip().lower():
        case "regional":
            return "regional"
        case "global":
            return "global"
        case _:
            return "local"


def node_coverage(node: RawCountry) -> set[str]:
    """Countries a node's packages work in: its signals, else (for a local node) its own code."""
    codes = {str(s.get("code", "")).strip().upper() for s in node.signals if isinstance(s, dict)}
    codes.discard("")
    if not codes and _geography(node.geography) == "local":
        codes.add(node.countryCode)
    return codes


def normalise_record(raw: Any, node: RawCountry) -> Package:
    """One raw PACKAGE under one COUNTRY node → Package (hash included). Raises SkippedRecord."""
    if not isinstance(raw, dict):
        raise SkippedRecord("not_an_object")
    try:
        record = RawPackage.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "record"
        if first["type"] == "finite_number":
            raise SkippedRecord(OUT_OF_RANGE, f"{where} is not finite") from None
        raise SkippedRecord(f"invalid_{where}", first["msg"]) from None

    _in_range(record.day, 1, MAX_VALIDITY_DAYS, "day")
    _in_range(record.price, 0, MAX_PRICE, "price")
    unlimited = record.isUnlimited or record.dataAmount == UNLIMITED_SENTINEL
    if unlimited:
        data_mb = None
    elif record.dataAmount is None:
        raise SkippedRecord("missing_data_amount")
    else:
        data_mb = _to_mb(record.dataAmount, record.dataUnit)

    throttle = record.throttle or _RawThrottle()
    throttled = record.withThrottle
    threshold_mb = None
    if throttled and throttle.throttleThreshold is not None:
        threshold_mb = _to_mb(throttle.throttleThreshold, throttle.throttleThresholdUnit, "throttleThreshold")

    package = Package(
        reseller_id=record.packageId,
        id=package_uuid(record.packageId),
        name=record.package.strip(),
        country_code=node.countryCode,
        country_name=node.countryName,
        region=(node.region or "").strip() or "Unknown",
        geography=_geography(node.geography),
        coverage=tuple(sorted(node_coverage(node))),
        data_mb=data_mb,
        unlimited=unlimited,
        validity_days=record.day,
        price=record.price.quantize(Decimal("0.01")),
        currency="USD",
        with_sms=record.withSMS,
        with_call=record.withCall,
        with_hotspot=record.withHotspot,
        throttled=throttled,
        throttle_speed_kbps=_to_kbps(throttle.throttleSpeed, throttle.throttleSpeedUnit)
        if throttled
        else None,
        throttle_threshold_mb=threshold_mb,
    )
    return package.with_hash()


def _raw_id(raw: Any) -> str | None:
    if isinstance(raw, dict):
        value = raw.get("packageId")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def normalise_nodes(
    nodes: Iterable[Any], catalog: NormalisedCatalog | None = None, *, page: int = 0
) -> NormalisedCatalog:
    """Fold country nodes (one page's, numbered `page`, or any list) into `catalog`.

    One package per packageId (see NormalisedCatalog for which listing's fields it keeps); records
    that cannot be read are counted by reason and their packageIds remembered as unreadable.
    """
    catalog = catalog if catalog is not None else NormalisedCatalog()
    position = 0
    for raw_node in nodes:
        try:
            node = RawCountry.model_validate(raw_node)
        except ValidationError:
            records = raw_node.get("packages") if isinstance(raw_node, dict) else None
            count = len(records) if isinstance(records, list) else 1
            catalog.skipped += count
            catalog.skip_reasons["invalid_country_node"] += count
            position += count
            if isinstance(records, list):
                catalog.unreadable_ids.update(i for i in map(_raw_id, records) if i and i not in catalog)
            continue
        for raw in node.packages:
            position += 1
            try:
                try:
                    catalog.add(normalise_record(raw, node), (page, position))
                except SkippedRecord:
                    raise
                except (ValueError, TypeError, ArithmeticError) as exc:
                    # What validation let through but building or storing the package refused
                    # (text no JSON encoder takes back, such as a lone surrogate): this record only.
                    raise SkippedRecord(
                        UNREADABLE_RECORD, f"{type(exc).__name__}: {str(exc)[:120]}"
                    ) from None
            except SkippedRecord as exc:
                catalog.skipped += 1
                catalog.skip_reasons[exc.reason] += 1
                raw_id = _raw_id(raw)
                # A packageId readable under another node is not unreadable because this one broke.
                if raw_id and raw_id not in catalog:
                    catalog.unreadable_ids.add(raw_id)
    return catalog
