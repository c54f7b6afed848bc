"""Hypothesis over Roamify catalog pages: well-formed records mixed with missing fields, wrong types,
huge numbers, unicode, the unlimited sentinel, nested junk, broken country nodes and packageIds listed
under several countries. The parser and the sync never crash, count every record they cannot read, and
never deactivate a package because its record was unreadable."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roamsync.domain.packages import (
    MAX_DATA_MB,
    UNLIMITED_SENTINEL,
    NormalisedCatalog,
    RawCountry,
    normalise_nodes,
    normalise_record,
)
from roamsync.domain.runs import RunStatus
from roamsync.services.sync import run_sync
from tests.fakes.catalog import FakeClock
from tests.fakes.my_packages import FakeRuns
from tests.fakes.sync import FakeCatalogSource, FakePackageStore

# A small pool, so the same packageId turns up under several countries, readable and not.
IDS = [f"pkg-{i}" for i in range(12)]
FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=16)
junk_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
)
junk = st.recursive(
    junk_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
    max_leaves=4,
)


@st.composite
def good_record(draw: st.DrawFn) -> dict[str, Any]:
    """A PACKAGE record normalise_record must read, with unicode names, huge amounts and extras."""
    record: dict[str, Any] = {
        "packageId": draw(st.sampled_from(IDS)),
        "package": draw(text.filter(lambda s: len(s) >= 1)),
        "day": draw(st.integers(min_value=1, max_value=3650)),
        "price": draw(
            st.one_of(
                st.integers(min_value=0, max_value=100_000),
                st.decimals(min_value=0, max_value=100_000, allow_nan=False, places=4).map(str),
            )
        ),
    }
    data = draw(st.sampled_from(["amount", "sentinel", "unlimited-flag"]))
    if data == "amount":
        unit = draw(st.sampled_from(["KB", "MB", "GB", "TB", "gb", " Mb ", None]))
        # Up to the largest amount roamsync stores (MAX_DATA_MB) in that unit; beyond is out_of_range.
        per_mb = {"KB": 1 / 1024, "GB": 1024, "TB": 1024 * 1024}.get((unit or "MB").strip().upper(), 1)
        record["dataAmount"] = draw(st.integers(min_value=0, max_value=int(MAX_DATA_MB / per_mb)))
        record["dataUnit"] = unit
    elif data == "sentinel":
        record["dataAmount"] = UNLIMITED_SENTINEL
    else:
        record["isUnlimited"] = True
    for flag in ("withSMS", "withCall", "withHotspot"):
        record[flag] = draw(st.booleans())
    # Fields roamsync does not read may hold anything.
    record.update(draw(st.dictionaries(st.sampled_from(["x_meta", "x_tags", "x_extra"]), junk, max_size=2)))
    return record


BREAKAGES = {
    "missing_package": lambda r: r.pop("package"),
    "missing_day": lambda r: r.pop("day"),
    "zero_day": lambda r: r.update(day=0),
    "fractional_day": lambda r: r.update(day=2.5),
    "bool_day": lambda r: r.update(day=True),
    "huge_day": lambda r: r.update(day=10**20),
    "negative_price": lambda r: r.update(price=-1),
    "text_price": lambda r: r.update(price="ten dollars"),
    "nan_price": lambda r: r.update(price=math.nan),
    "huge_price": lambda r: r.update(price=10**30),
    "nested_price": lambda r: r.update(price={"amount": 5}),
    "no_data": lambda r: (r.pop("dataAmount", None), r.pop("isUnlimited", None)),
    "negative_data": lambda r: (r.pop("isUnlimited", None), r.update(dataAmount=-5)),
    "unknown_unit": lambda r: (r.pop("isUnlimited", None), r.update(dataAmount=1, dataUnit="PB")),
    "list_name": lambda r: r.update(package=["a", "b"]),
}


@st.composite
def bad_record(draw: st.DrawFn) -> Any:
    """A record normalise_record must refuse: a broken PACKAGE, or not an object at all."""
    if draw(st.booleans()):
        return draw(st.one_of(junk_scalar, st.lists(junk, max_size=2)))
    record = draw(good_record())
    BREAKAGES[draw(st.sampled_from(sorted(BREAKAGES)))](record)
    return record


@dataclass
class Listing:
    record: Any
    readable: bool


@dataclass
class Catalog:
    """Pages of raw nodes and, for each listing, whether the parser must be able to read it."""

    pages: list[list[Any]] = field(default_factory=list)
    listings: list[Listing] = field(default_factory=list)
    # Listings inside nodes that are not objects or have no readable countryCode: all unreadable.
    junk_nodes: int = 0

    def ids(self, *, readable: bool) -> set[str]:
        return {
            str(item.record["packageId"]).strip()
            for item in self.listings
            if item.readable is readable
            and isinstance(item.record, dict)
            and isinstance(item.record.get("packageId"), str)
            and item.record["packageId"].strip()
        }


@st.composite
def catalogs(draw: st.DrawFn) -> Catalog:
    catalog = Catalog()
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        page: list[Any] = []
        for _ in range(draw(st.integers(min_value=0, max_value=4))):
            kind = draw(st.sampled_from(["good", "good", "bad_code", "not_a_node"]))
            if kind == "not_a_node":
                page.append(draw(junk_scalar))
                catalog.junk_nodes += 1
                continue
            records = draw(st.lists(st.one_of(good_record(), bad_record()), max_size=5))
            node: dict[str, Any] = {
                "countryName": draw(text),
                "region": draw(st.one_of(st.none(), text)),
                "geography": draw(st.sampled_from(["local", "regional", "global", "Ärger", None])),
                "signals": draw(
                    st.lists(st.fixed_dictionaries({"code": st.sampled_from(["SE", "NO", "FI"])}))
                ),
                "packages": records,
            }
            if kind == "good":
                node["countryCode"] = draw(st.sampled_from(["SE", "no", " fi ", "US"]))
            else:
                node["countryCode"] = draw(st.sampled_from([None, "", "TOO-LONG-CODE", ["SE"], 46]))
            page.append(node)
            for record in records:
                readable = kind == "good" and _readable(record, node)
                catalog.listings.append(Listing(record, readable))
        catalog.pages.append(page)
    return catalog


def _readable(record: Any, node: dict[str, Any]) -> bool:
    """The oracle, record by record (normalise_nodes itself folds, merges and counts)."""
    try:
        normalise_record(record, RawCountry.model_validate(node))
    except ValueError:
        return False
    return True


def _stored(reseller_id: str) -> Any:
    node = RawCountry(countryCode="SE")
    raw = {
        "packageId": reseller_id,
        "package": "stored",
        "day": 7,
        "price": 5,
        "dataAmount": 1,
        "dataUnit": "GB",
    }
    return normalise_record(raw, node)


@FUZZ
@given(catalogs())
def test_the_parser_reads_what_it_can_and_counts_the_rest(catalog: Catalog) -> None:
    result = NormalisedCatalog()
    for page in catalog.pages:
        normalise_nodes(page, result)  # never raises

    readable = catalog.ids(readable=True)
    assert set(result.packages) == readable
    unread = sum(1 for item in catalog.listings if not item.readable)
    assert result.skipped == unread + catalog.junk_nodes
    assert sum(result.skip_reasons.values()) == result.skipped
    # an id is unreadable only when none of its listings could be read
    assert result.unreadable_ids == catalog.ids(readable=False) - readable


@settings(max_examples=30, deadline=None)
@given(st.lists(good_record(), min_size=1, max_size=6))
def test_the_first_readable_listing_of_an_id_is_the_one_kept(records: list[dict[str, Any]]) -> None:
    countries = ["SE", "NO", "FI", "DK", "IS", "EE"]
    nodes = [
        {"countryCode": code, "packages": [record]} for code, record in zip(countries, records, strict=False)
    ]

    result = normalise_nodes(nodes)

    for reseller_id, package in result.packages.items():
        first = next(r for r in records if r["packageId"] == reseller_id)
        listed_in = {n["countryCode"] for n in nodes if n["packages"][0]["packageId"] == reseller_id}
        assert package.validity_days == first["day"]
        assert package.unlimited is (
            first.get("isUnlimited", False) or first.get("dataAmount") == UNLIMITED_SENTINEL
        )
        assert package.data_mb is None if package.unlimited else package.data_mb is not None
        assert package.price == Decimal(str(first["price"])).quantize(Decimal("0.01"))
        assert set(package.coverage) == listed_in


@FUZZ
@given(catalogs(), st.sets(st.sampled_from(IDS)), st.booleans())
def test_the_sync_never_deactivates_a_package_whose_record_was_unreadable(
    catalog: Catalog, stored_ids: set[str], force: bool
) -> None:
    # given a Packages table holding active packages, some listed upstream, readably or not
    store = FakePackageStore(_stored(i) for i in stored_ids)
    runs = FakeRuns()

    # when a sync reads the fuzzed pages (a forced one applies even a mostly-empty snapshot)
    outcome = run_sync(
        source=FakeCatalogSource(catalog.pages),
        packages=store,
        runs=runs,
        clock=FakeClock(),
        max_deactivation_ratio=1.0,
        force=force,
    )

    # then the run finished, counted what it skipped, and deactivated only packages nobody listed
    run = outcome.run
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.REFUSED)
    assert runs.get(run.run_id) is not None
    unread = sum(1 for item in catalog.listings if not item.readable) + catalog.junk_nodes
    assert run.counts["skipped"] == unread
    listed = catalog.ids(readable=True) | catalog.ids(readable=False)
    deactivated = {p.reseller_id for p in store.packages.values() if p.status == "inactive"}
    assert not deactivated & listed
    if run.status is RunStatus.SUCCEEDED:
        assert deactivated == stored_ids - listed
        assert {i for i, p in store.packages.items() if p.status == "active"} >= catalog.ids(readable=True)
