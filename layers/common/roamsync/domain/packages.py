"""The normalised catalog package and how Roamify's raw records become one."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

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
    throttleSpeed: float | None = None
    throttleSpeedUnit: str | None = None
    throttleThreshold: float | None = None
    throttleThresholdUnit: str | None = None


class RawPackage(BaseModel):
    """A PACKAGE record exactly as Roamify spells it; only the fields roamsync uses are checked."""

    model_config = ConfigDict(extra="ignore", strict=False)

    packageId: ResellerId
    package: str = Field(min_length=1)
    day: int = Field(ge=1, le=3650)
    price: Decimal = Field(ge=0, le=100_000)
    isUnlimited: bool = False
    dataAmount: Decimal | None = Field(default=None, ge=0)
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
    """One page of Roamify's catalog: its raw country nodes and how many package listings it held."""

    number: int
    nodes: list[Any]
    listings: int


@dataclass
class NormalisedCatalog:
    """The outcome of normalising a snapshot: packages by reseller_id and what could not be read."""

    packages: dict[str, Package] = field(default_factory=dict)
    skipped: int = 0
    skip_reasons: Counter[str] = field(default_factory=Counter)
    # packageIds seen upstream whose records could not be read: never deactivated because of that.
    unreadable_ids: set[str] = field(default_factory=set)


class SkippedRecord(ValueError):
    """A raw record that cannot become a Package; `reason` is a short, countable label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def _to_mb(amount: Decimal, unit: str | None) -> int:
    factor = DATA_UNIT_TO_MB.get((unit or "MB").strip().upper())
    if factor is None:
        raise SkippedRecord("unknown_data_unit", str(unit))
    return int((amount * factor).to_integral_value())


def _to_kbps(amount: float | None, unit: str | None) -> int | None:
    if amount is None:
        return None
    factor = SPEED_UNIT_TO_KBPS.get((unit or "kbps").strip().upper())
    if factor is None:
        raise SkippedRecord("unknown_throttle_unit", str(unit))
    return int((Decimal(str(amount)) * factor).to_integral_value())


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
        raise SkippedRecord(f"invalid_{where}", first["msg"]) from None

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
        threshold_mb = _to_mb(Decimal(str(throttle.throttleThreshold)), throttle.throttleThresholdUnit)

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


def normalise_nodes(nodes: Iterable[Any], catalog: NormalisedCatalog | None = None) -> NormalisedCatalog:
    """Fold country nodes (from one or many pages) into `catalog`.

    One package per packageId: a package listed under several nodes keeps the first listing's
    fields and its coverage becomes the union of every node's countries.
    """
    catalog = catalog if catalog is not None else NormalisedCatalog()
    for raw_node in nodes:
        try:
            node = RawCountry.model_validate(raw_node)
        except ValidationError:
            records = raw_node.get("packages") if isinstance(raw_node, dict) else None
            count = len(records) if isinstance(records, list) else 1
            catalog.skipped += count
            catalog.skip_reasons["invalid_country_node"] += count
            if isinstance(records, list):
                catalog.unreadable_ids.update(i for i in map(_raw_id, records) if i)
            continue
        for raw in node.packages:
            try:
                package = normalise_record(raw, node)
            except SkippedRecord as exc:
                catalog.skipped += 1
                catalog.skip_reasons[exc.reason] += 1
                raw_id = _raw_id(raw)
                if raw_id:
                    catalog.unreadable_ids.add(raw_id)
                continue
            seen = catalog.packages.get(package.reseller_id)
            if seen is None:
                catalog.packages[package.reseller_id] = package
            elif not set(package.coverage) <= set(seen.coverage):
                merged = tuple(sorted(set(seen.coverage) | set(package.coverage)))
                catalog.packages[package.reseller_id] = seen.model_copy(
                    update={"coverage": merged}
                ).with_hash()
    # A packageId readable under one node is not unreadable because another listing was broken.
    catalog.unreadable_ids -= catalog.packages.keys()
    return catalog
