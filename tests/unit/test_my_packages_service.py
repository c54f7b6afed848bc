"""The shop's rows: created from the catalog, edited without silently changing what they promise."""

from __future__ import annotations

from decimal import Decimal

import pytest

from roamsync.domain.errors import BadRequest, Conflict, NotFound
from roamsync.services.my_packages import MyPackageInput, create_my_package, update_my_package
from tests.fakes.my_packages import GB, FakeCatalog, FakeMyPackages, StepClock, catalog_package

EUROPE = catalog_package(
    "europe-10gb", country="EU", coverage=["FR", "ES", "DE"], data_mb=10 * GB, price="12.00"
)
SWEDEN = catalog_package("sweden-5gb", price="6.00")
BIGGER = catalog_package("sweden-20gb", data_mb=20 * GB, days=30, price="11.00")


@pytest.fixture
def shop() -> dict:
    return {
        "my_packages": FakeMyPackages(),
        "packages": FakeCatalog([EUROPE, SWEDEN, BIGGER]),
        "clock": StepClock(),
    }


def create(shop: dict, draft: bool = False, **fields):
    return create_my_package(MyPackageInput(**fields), draft=draft, **shop)


def update(shop: dict, my_id: str, draft: bool = False, **fields):
    return update_my_package(my_id, MyPackageInput(**fields), draft=draft, **shop)


def test_a_row_takes_data_days_and_price_from_its_package_and_is_validated(shop):
    row = create(shop, reseller_id="sweden-5gb", sale_price=Decimal("9.90"))

    assert (row.country_code, row.data_mb, row.validity_days, row.base_price) == (
        "SE",
        5 * GB,
        7,
        Decimal("6.00"),
    )
    assert row.name == SWEDEN.name and row.visible is True
    assert (row.validation_status, row.validation_reason) == ("valid", None)
    assert shop["my_packages"].get(row.id) == row


def test_a_regional_package_is_sold_for_a_country_it_covers_and_no_other(shop):
    row = create(shop, reseller_id="europe-10gb", sale_price=Decimal("20"), country_code="fr")

    assert row.country_code == "FR" and row.country_name is None
    with pytest.raises(BadRequest, match="does not cover SE"):
        update(shop, row.id, country_code="SE")


def test_one_row_per_package(shop):
    create(shop, reseller_id="sweden-5gb", sale_price=Decimal("9.90"))

    with pytest.raises(Conflict, match="already mapped"):
        create(shop, reseller_id="sweden-5gb", sale_price=Decimal("8.90"))


@pytest.mark.parametrize(
    ("fields", "draft", "error"),
    [
        ({"sale_price": Decimal("9")}, False, BadRequest),
        ({"reseller_id": "sweden-5gb"}, False, BadRequest),
        ({"reseller_id": "unknown", "sale_price": Decimal("9")}, False, NotFound),
        ({"reseller_id": "sweden-5gb", "sale_price": Decimal("9"), "data_mb": 1}, False, BadRequest),
        ({"reseller_id": "sweden-5gb", "sale_price": Decimal("9"), "currency": "EUR"}, False, BadRequest),
        ({"reseller_id": "unknown"}, True, BadRequest),  # a draft the catalog cannot name needs a name
    ],
)
def test_a_row_that_cannot_be_made_is_refused_and_nothing_is_written(shop, fields, draft, error):
    with pytest.raises(error):
        create(shop, draft=draft, **fields)

    assert shop["my_packages"].rows == {}


def test_an_edit_changes_only_what_it_names(shop):
    row = create(shop, reseller_id="sweden-5gb", sale_price=Decimal("9.90"))

    edited = update(shop, row.id, name="Sweden, 5 GB", sale_price=Decimal("5.00"))

    assert (
        edited.name == "Sweden, 5 GB"
        and edited.data_mb == row.data_mb
        and edited.base_price == row.base_price
    )
    assert (edited.validation_status, edited.validation_reason) == ("invalid", "negative_margin")
    assert edited.updated_at is not None and row.updated_at is not None and edited.updated_at > row.updated_at


def test_a_remap_takes_the_new_packages_data_days_and_price(shop):
    row = create(shop, reseller_id="sweden-5gb", sale_price=Decimal("19.90"))

    remapped = update(shop, row.id, reseller_id="sweden-20gb")

    assert (remapped.data_mb, remapped.validity_days, remapped.base_price) == (20 * GB, 30, Decimal("11.00"))


def test_an_edit_of_a_row_changed_meanwhile_is_a_conflict(shop):
    row = create(shop, reseller_id="sweden-5gb", sale_price=Decimal("9.90"))
    rows: FakeMyPackages = shop["my_packages"]
    rows.rows[row.id] = row.model_copy(update={"updated_at": shop["clock"]()})

    class Stale(FakeMyPackages):
        def get(self, my_package_id):
            return row  # what the edit read, before the other change landed

    stale = Stale(rows.rows.values())
    with pytest.raises(Conflict):
        update_my_package(
            row.id,
            MyPackageInput(name="late"),
            draft=False,
            my_packages=stale,
            packages=shop["packages"],
            clock=shop["clock"],
        )
