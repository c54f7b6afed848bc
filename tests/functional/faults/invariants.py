"""The invariants every fault-matrix case must leave true, written once and applied to every case."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3

from roamsync.domain.equivalence import is_equivalent_or_better
from roamsync.domain.packages import Package
from tests.conftest import REGION, TABLE_NAMES
from tests.fakes.faults import scan_items

TOLERANCE = Decimal("0.10")
# What a client may see from the API under faults: success, the documented 4xx, 409 and 503.
CLIENT_STATUSES = {200, 201, 202, 400, 401, 403, 404, 409, 413, 422, 429, 503}
FINISHED_RUN_STATUSES = {"succeeded", "dry_run", "refused", "failed", "partial", "skipped"}


@dataclass
class Snapshot:
    """Row counts of the tables that must never lose a row."""

    packages: int
    my_packages: int

    @classmethod
    def take(cls) -> Snapshot:
        return cls(count_items("PackagesTable"), count_items("MyPackagesTable"))


def count_items(logical_table: str) -> int:
    client = boto3.client("dynamodb", region_name=REGION)
    kwargs: dict[str, Any] = {"TableName": TABLE_NAMES[logical_table], "Select": "COUNT"}
    total = 0
    while True:
        page = client.scan(**kwargs)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@dataclass
class Witness:
    """What one case saw: client responses, orders requested (order id → package), worker errors."""

    before: Snapshot
    responses: list[tuple[int, bytes]] = field(default_factory=list)
    requested: dict[str, Package] = field(default_factory=dict)
    unhandled: list[BaseException] = field(default_factory=list)


def run_records() -> list[dict[str, Any]]:
    return [json.loads(i["record"]["S"]) for i in scan_items("RunsTable") if i["kind"]["S"] != "run_changes"]


def no_half_written_run() -> None:
    """Every run record finished with a status (called once every worker of the case has returned)."""
    unfinished = [
        (r["run_id"], r["kind"], r["status"])
        for r in run_records()
        if r["status"] not in FINISHED_RUN_STATUSES or not r.get("finished_at")
    ]
    assert not unfinished, f"runs left unfinished: {unfinished}"


def no_row_lost(before: Snapshot) -> None:
    after = Snapshot.take()
    assert after.packages >= before.packages, f"Packages rows lost: {before.packages} → {after.packages}"
    assert after.my_packages >= before.my_packages, (
        f"MyPackages rows lost: {before.my_packages} → {after.my_packages}"
    )


def client_errors_documented(responses: Iterable[tuple[int, bytes]]) -> None:
    for status, body in responses:
        assert status in CLIENT_STATUSES, f"undocumented status {status}: {body[:300]!r}"
        if status >= 400:
            answer = json.loads(body)
            if status == 409 and answer.get("action") == "block":
                continue  # checkout's documented block answer, alternatives included
            error = answer.get("error")
            assert isinstance(error, dict) and error.get("code") and error.get("message"), body[:300]


def orders_once_and_not_downgraded(
    upstream_orders: list[dict[str, Any]],
    requested: Mapping[str, Package],
    catalog: Callable[[], Mapping[str, Package]],
) -> None:
    """Each customer order (referenceId `{orderId}-a{n}`) placed upstream at most once, and for a
    package equivalent-or-better than the one asked for."""
    per_order = Counter(o["referenceId"].rpartition("-a")[0] for o in upstream_orders)
    twice = {k: n for k, n in per_order.items() if n > 1}
    assert not twice, f"orders placed more than once upstream: {twice}"
    for order in upstream_orders:
        original = requested[order["referenceId"].rpartition("-a")[0]]
        for item in order["items"]:
            if item["packageId"] == original.reseller_id:
                continue
            chosen = catalog()[item["packageId"]]
            assert original.country_code is not None
            assert is_equivalent_or_better(
                original, chosen, original.country_code, max_price_increase=TOLERANCE
            ), f"downgrade: {original.reseller_id} → {chosen.reseller_id}"


def remaps_not_downgraded(
    before_rows: Mapping[str, Any],
    after_rows: Mapping[str, Any],
    catalog: Callable[[], Mapping[str, Package]],
) -> None:
    """A shop row remapped by auto-fix points at a package equivalent-or-better than its old one."""
    for row_id, row in after_rows.items():
        old = before_rows.get(row_id)
        if old is None or old.reseller_id == row.reseller_id:
            continue
        original, chosen = catalog()[old.reseller_id], catalog()[row.reseller_id]
        destination = old.country_code or original.country_code
        assert is_equivalent_or_better(original, chosen, destination, max_price_increase=TOLERANCE), (
            f"row {row_id} downgraded: {original.reseller_id} → {chosen.reseller_id}"
        )


def no_live_package_inactive(listed: Iterable[str], catalog: Mapping[str, Package]) -> None:
    """Every package Roamify still lists is in the table and active: whatever the fault, the sync never
    deactivated (or lost) a live one."""
    wrong = {rid: (catalog[rid].status if rid in catalog else "missing") for rid in listed}
    wrong = {rid: status for rid, status in wrong.items() if status != "active"}
    assert not wrong, f"live packages not active: {dict(sorted(wrong.items())[:10])} ({len(wrong)} in all)"


def check_all(
    witness: Witness,
    *,
    upstream_orders: list[dict[str, Any]],
    catalog: Callable[[], Mapping[str, Package]],
    rows: tuple[Mapping[str, Any], Mapping[str, Any]] = ({}, {}),
    listed: Iterable[str] | None = None,
) -> None:
    """Every invariant, for any path and fault; `catalog` is read only when an order or a row moved,
    or when `listed` (what Roamify lists after the case) is given."""
    assert not witness.unhandled, f"unhandled errors: {witness.unhandled!r}"
    if listed is not None:
        no_live_package_inactive(listed, catalog())
    client_errors_documented(witness.responses)
    orders_once_and_not_downgraded(upstream_orders, witness.requested, catalog)
    remaps_not_downgraded(*rows, catalog)
    no_row_lost(witness.before)
    no_half_written_run()
