"""What the fakes and the DynamoDB adapters must both do: reads after writes, conditional creates,
versioned and guarded writes, missing items, paging, and the numbers as DynamoDB stores them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from roamsync.domain.errors import BadRequest, Conflict
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.orders import Order, OrderRequest, OrderStatus
from roamsync.domain.runs import Run, RunKind, RunStatus, Trigger
from tests.fakes.packages import make_plan

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _order(key: str = "idem-1") -> Order:
    request = OrderRequest(package_id="pkg-1", quantity=1)
    return Order.new(key, request, reseller_id="pkg-1", destination="SE", now=NOW)


def _row(my_id: str, **fields: Any) -> MyPackage:
    values: dict[str, Any] = {
        "id": my_id,
        "reseller_id": f"r-{my_id}",
        "name": f"Row {my_id}",
        "country_code": "SE",
        "sale_price": Decimal("15.00"),
        "updated_at": NOW,
    }
    return MyPackage(**{**values, **fields})


def _run(run_id: str, minutes: int = 0, kind: RunKind = RunKind.SYNC, **fields: Any) -> Run:
    values: dict[str, Any] = {
        "run_id": run_id,
        "kind": kind,
        "trigger": Trigger.API,
        "started_at": NOW + timedelta(minutes=minutes),
        "status": RunStatus.SUCCEEDED,
        "finished_at": NOW + timedelta(minutes=minutes, seconds=30),
    }
    return Run(**{**values, **fields})


# ---- orders: the idempotency records ---------------------------------------------------------------


def test_an_order_reads_back_at_version_1_after_its_create(orders: Any) -> None:
    created = orders.create(_order())

    assert created.version == 1
    assert orders.get(created.order_id) == created


def test_a_second_create_under_the_same_key_conflicts_and_keeps_the_first(orders: Any) -> None:
    first = orders.create(_order())

    with pytest.raises(Conflict):
        orders.create(_order().model_copy(update={"package_id": "pkg-2"}))
    assert orders.get(first.order_id) == first


def test_a_versioned_save_bumps_the_version_and_a_stale_one_conflicts(orders: Any) -> None:
    created = orders.create(_order())
    placed = orders.save(created.model_copy(update={"status": OrderStatus.PLACED}), expected_version=1)

    assert placed.version == 2
    assert orders.get(created.order_id) == placed
    with pytest.raises(Conflict):
        orders.save(created.model_copy(update={"status": OrderStatus.FAILED}), expected_version=1)
    assert orders.get(created.order_id) == placed


def test_saving_an_order_never_created_conflicts_and_creates_nothing(orders: Any) -> None:
    order = _order()

    with pytest.raises(Conflict):
        orders.save(order, expected_version=0)
    assert orders.get(order.order_id) is None


def test_an_unknown_order_is_none(orders: Any) -> None:
    assert orders.get("no-such-order") is None


# ---- my-packages: guarded writes, missing rows, paging, numbers ------------------------------------


def test_a_created_row_reads_back_by_id_and_by_reseller_id(my_packages: Any) -> None:
    row = _row("m1")
    my_packages.create(row)

    assert my_packages.get("m1") == row
    assert my_packages.by_reseller_id("r-m1") == [row]
    assert my_packages.by_reseller_id("r-none") == []
    assert my_packages.get("nope") is None


def test_creating_a_taken_id_conflicts_and_keeps_the_first_row(my_packages: Any) -> None:
    my_packages.create(_row("m1"))

    with pytest.raises(Conflict):
        my_packages.create(_row("m1", name="Another"))
    assert my_packages.get("m1").name == "Row m1"


@pytest.mark.parametrize("write", ["replace", "delete", "set_validation"])
def test_guarded_writes_conflict_on_a_changed_or_missing_row(my_packages: Any, write: str) -> None:
    my_packages.create(_row("m1"))
    stale = NOW - timedelta(minutes=1)

    def attempt(my_id: str, expected: datetime | None) -> None:
        if write == "delete":
            my_packages.delete(my_id, expected_updated_at=expected)
        else:
            getattr(my_packages, write)(_row(my_id, name="Changed"), expected_updated_at=expected)

    for my_id, expected in [("m1", stale), ("m1", None), ("gone", NOW)]:
        with pytest.raises(Conflict):
            attempt(my_id, expected)
    assert my_packages.get("m1") == _row("m1")
    assert my_packages.get("gone") is None


def test_a_guarded_replace_and_delete_work_on_an_unchanged_row(my_packages: Any) -> None:
    my_packages.create(_row("m1"))
    later = NOW + timedelta(minutes=5)

    my_packages.replace(_row("m1", name="Renamed", updated_at=later), expected_updated_at=NOW)
    assert my_packages.get("m1").name == "Renamed"
    my_packages.delete("m1", expected_updated_at=later)
    assert my_packages.get("m1") is None


def test_set_validation_writes_only_the_validation_state(my_packages: Any) -> None:
    my_packages.create(_row("m1"))
    checked = _row(
        "m1", name="Ignored", validation_status="invalid", validation_reason="gone", validated_at=NOW
    )

    my_packages.set_validation(checked, expected_updated_at=NOW)
    stored = my_packages.get("m1")
    assert (stored.name, stored.validation_status, stored.validation_reason, stored.validated_at) == (
        "Row m1",
        "invalid",
        "gone",
        NOW,
    )

    my_packages.set_validation(_row("m1"), expected_updated_at=NOW)  # cleared again
    assert my_packages.get("m1") == _row("m1")


def _every_page(my_packages: Any, limit: int, **filters: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(50):
        rows, cursor = my_packages.page(limit=limit, cursor=cursor, **filters)
        assert len(rows) <= limit
        pages.append([r.id for r in rows])
        if cursor is None:
            return pages
    raise AssertionError("paging never ended")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {f"m{i:02}" for i in range(12)}),
        ({"country_code": "no"}, {f"m{i:02}" for i in range(12) if i % 3 == 0}),
        ({"validation_status": "valid"}, {f"m{i:02}" for i in range(12) if i % 2 == 0}),
        ({"validation_status": "unvalidated"}, {f"m{i:02}" for i in range(12) if i % 2 == 1}),
    ],
)
def test_paging_visits_every_matching_row_once(
    my_packages: Any, filters: dict[str, Any], expected: set[str]
) -> None:
    for i in range(12):
        my_packages.create(
            _row(
                f"m{i:02}",
                country_code="NO" if i % 3 == 0 else "SE",
                validation_status="valid" if i % 2 == 0 else None,
            )
        )

    pages = _every_page(my_packages, 5, **filters)
    seen = [my_id for page in pages for my_id in page]

    assert sorted(seen) == sorted(expected)


def test_a_cursor_this_api_did_not_give_out_is_a_bad_request(my_packages: Any) -> None:
    my_packages.create(_row("m1"))

    with pytest.raises(BadRequest):
        my_packages.page(limit=5, cursor="m0")


def test_amounts_read_back_equal_in_value(my_packages: Any) -> None:
    my_packages.create(_row("m1", sale_price=Decimal("19.90"), base_price=Decimal("10.000")))

    stored = my_packages.get("m1")
    assert (stored.sale_price, stored.base_price) == (Decimal("19.9"), Decimal("10"))


def test_amounts_read_back_in_dynamodb_digits(my_packages: Any, kind: str) -> None:
    """DynamoDB (and dynalite) store a number normalised: 19.90 reads back as 19.9 and 10.000 as
    10. moto keeps the digits sent, so it cannot check this; the fake must answer as DynamoDB does,
    or the services' tests would pass on digits production never returns."""
    if kind == "moto":
        pytest.skip("moto keeps a number's trailing zeros; DynamoDB does not")
    my_packages.create(_row("m1", sale_price=Decimal("19.90"), base_price=Decimal("10.000")))

    stored = my_packages.get("m1")
    assert (str(stored.sale_price), str(stored.base_price)) == ("19.9", "10")


# ---- runs: records, ordering, guarded status, leases -----------------------------------------------


def test_a_saved_run_reads_back_and_an_unknown_one_is_none(runs: Any) -> None:
    run = _run("run-1", counts={"created": 3}, details={"note": "x"})
    runs.save(run)

    assert runs.get("run-1") == run
    assert runs.get("run-404") is None


def test_latest_is_newest_first_of_one_kind_up_to_the_limit(runs: Any) -> None:
    for minutes in (3, 1, 4, 2, 0):
        runs.save(_run(f"sync-{minutes}", minutes))
    runs.save(_run("dedupe-9", 9, kind=RunKind.DEDUPE))

    assert [r.run_id for r in runs.latest(RunKind.SYNC, limit=3)] == ["sync-4", "sync-3", "sync-2"]
    assert [r.run_id for r in runs.latest(RunKind.DEDUPE)] == ["dedupe-9"]
    assert runs.latest(RunKind.UNDO) == []


def test_a_save_expecting_a_status_conflicts_when_the_run_moved_on(runs: Any) -> None:
    pending = _run("run-1", status=RunStatus.PENDING, finished_at=None)
    runs.save(pending)
    running = pending.model_copy(update={"status": RunStatus.RUNNING})
    runs.save(running, expected_status=RunStatus.PENDING)

    with pytest.raises(Conflict):
        runs.save(pending.model_copy(update={"status": RunStatus.FAILED}), expected_status=RunStatus.PENDING)
    with pytest.raises(Conflict):
        runs.save(_run("run-404"), expected_status=RunStatus.PENDING)
    assert runs.get("run-1").status == RunStatus.RUNNING
    assert runs.get("run-404") is None


# ---- the catalog: written by the sync, read by key and by index; deactivated, never deleted --------


def test_written_packages_read_back_by_key_many_keys_country_and_spanning_region(catalog: Any) -> None:
    local = make_plan("pkg-se")
    regional = make_plan("pkg-eu", coverage=["SE", "NO", "DK"])
    other = make_plan("pkg-no", country="NO")
    catalog.store.write([local, regional, other])

    assert catalog.reader.get("pkg-se") == local
    assert catalog.reader.get("pkg-none") is None
    assert catalog.reader.get_many(["pkg-se", "pkg-no", "pkg-none"]) == {"pkg-se": local, "pkg-no": other}
    assert catalog.reader.get_many([]) == {}
    assert sorted(p.reseller_id for p in catalog.reader.by_country("se")) == ["pkg-eu", "pkg-se"]
    assert [p.reseller_id for p in catalog.reader.spanning("Europe")] == ["pkg-eu"]
    assert catalog.store.load_all() == {"pkg-se": local, "pkg-eu": regional, "pkg-no": other}


def test_a_deactivated_package_stays_readable_as_inactive(catalog: Any) -> None:
    package = make_plan("pkg-se")
    catalog.store.write([package])
    inactive = package.model_copy(update={"status": "inactive"}).with_hash()
    catalog.store.write([inactive])

    assert catalog.reader.get("pkg-se") == inactive
    assert [p.status for p in catalog.reader.by_country("SE")] == ["inactive"]
    assert set(catalog.store.load_stored()) == {"pkg-se"}
    assert catalog.store.load_stored()["pkg-se"].status == "inactive"


def test_write_answers_one_call_per_25_packages(catalog: Any) -> None:
    written: list[str] = []
    calls = catalog.store.write((make_plan(f"pkg-{i:02}") for i in range(30)), on_written=written.extend)

    assert calls == 2
    assert sorted(written) == [f"pkg-{i:02}" for i in range(30)]
    assert catalog.store.write([]) == 0


def test_a_package_price_reads_back_in_dynamodb_digits(catalog: Any, kind: str) -> None:
    """As for a shop row's amounts: what auto-fix copies from a package into a row (and records as
    its after-image) must have the digits a read of that row gives back, or undo sees an edit."""
    if kind == "moto":
        pytest.skip("moto keeps a number's trailing zeros; DynamoDB does not")
    catalog.store.write([make_plan("pkg-se", price="19.90")])

    assert str(catalog.reader.get("pkg-se").price) == "19.9"
    assert str(catalog.reader.get_many(["pkg-se"])["pkg-se"].price) == "19.9"
    assert str(catalog.store.load_all()["pkg-se"].price) == "19.9"
