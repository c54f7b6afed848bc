"""The MyPackages repository round-trips rows and finds them by reseller_id (a Query on the index)."""

from decimal import Decimal

from roamsync.domain.my_packages import MyPackage


def test_a_saved_row_reads_back_unchanged_and_by_its_reseller_id(container):
    row = MyPackage(id="m1", reseller_id="r1", name="Sweden 10GB", sale_price=Decimal("12.90"), data_mb=10240)

    container.my_packages.save(row)

    assert container.my_packages.get("m1") == row
    assert container.my_packages.by_reseller_id("r1") == [row]


def test_an_unknown_id_is_none(container):
    assert container.my_packages.get("nope") is None
