"""Normalising Roamify's country-grouped records into packages."""

from decimal import Decimal

import pytest

from roamsync.domain.packages import UNLIMITED_SENTINEL, normalise_nodes, package_uuid


def node(code="SE", name="Sweden", region="Europe", geography="local", *, signals=None, packages=()):
    return {
        "countryCode": code,
        "countryName": name,
        "region": region,
        "geography": geography,
        "signals": signals if signals is not None else [{"code": code, "name": name}],
        "packages": list(packages),
    }


def record(package_id="esim-se-30d-10gb", **overrides):
    base = {
        "packageId": package_id,
        "package": "Sweden 10GB 30 days",
        "day": 30,
        "price": 12.5,
        "isUnlimited": False,
        "dataAmount": 10240,
        "dataUnit": "MB",
        "withSMS": False,
        "withCall": False,
        "withHotspot": True,
        "withThrottle": False,
    }
    base.update(overrides)
    return base


def test_a_plain_record_becomes_a_package_with_a_stable_id():
    catalog = normalise_nodes([node(packages=[record()])])

    package = catalog.packages["esim-se-30d-10gb"]
    assert package.id == package_uuid("esim-se-30d-10gb")
    assert (package.data_mb, package.validity_days, package.price) == (10240, 30, Decimal("12.50"))
    assert package.coverage == ("SE",)
    assert package.with_hotspot and not package.unlimited
    assert len(package.content_hash) == 64


def test_the_id_is_the_same_uuid5_everywhere():
    # uuid5 of a fixed namespace: these values must never change between releases or machines.
    assert package_uuid("esim-cambodia-7days-1gb-all") == "401543b4-f1ae-51da-a85e-6eec16c174a8"
    assert package_uuid("esim-se-30d-10gb") == "9d0b68e6-846e-5670-9d8f-1515454c742b"
    assert package_uuid("a") != package_uuid("b")


@pytest.mark.parametrize(("amount", "unit", "mb"), [(1, "GB", 1024), (500, "MB", 500), (2048, "KB", 2)])
def test_data_units_become_megabytes(amount, unit, mb):
    catalog = normalise_nodes([node(packages=[record(dataAmount=amount, dataUnit=unit)])])
    assert catalog.packages["esim-se-30d-10gb"].data_mb == mb


def test_the_unlimited_sentinel_is_unlimited_not_a_number_of_megabytes():
    raw = record(isUnlimited=False, dataAmount=UNLIMITED_SENTINEL, dataUnit="MB")
    package = normalise_nodes([node(packages=[raw])]).packages["esim-se-30d-10gb"]
    assert package.unlimited is True
    assert package.data_mb is None


def test_throttle_is_normalised_to_kbps_and_megabytes():
    raw = record(
        isUnlimited=True,
        dataAmount=UNLIMITED_SENTINEL,
        withThrottle=True,
        throttle={
            "throttleSpeed": 1,
            "throttleSpeedUnit": "Mbps",
            "throttleThreshold": 3,
            "throttleThresholdUnit": "GB",
        },
    )
    package = normalise_nodes([node(packages=[raw])]).packages["esim-se-30d-10gb"]
    assert (package.throttled, package.throttle_speed_kbps, package.throttle_threshold_mb) == (
        True,
        1000,
        3072,
    )


def test_a_package_under_several_country_nodes_is_one_package_covering_their_union():
    regional = record("esim-europe-30d-5gb")
    nodes = [
        node("SE", "Sweden", packages=[regional]),
        node("DE", "Germany", packages=[regional]),
        node(
            "EU",
            "Europe",
            geography="regional",
            signals=[{"code": "FR"}, {"code": "SE"}],
            packages=[regional],
        ),
    ]
    catalog = normalise_nodes(nodes)
    assert list(catalog.packages) == ["esim-europe-30d-5gb"]
    assert catalog.packages["esim-europe-30d-5gb"].coverage == ("DE", "FR", "SE")


def test_a_regional_node_code_is_not_taken_as_a_country():
    # "AF" named "Africa Adventure" is a region, not Afghanistan: only its signals count.
    africa = node(
        "AF",
        "Africa Adventure",
        region="Africa",
        geography="regional",
        signals=[{"code": "KE"}, {"code": "TZ"}],
        packages=[record("esim-africa")],
    )
    assert normalise_nodes([africa]).packages["esim-africa"].coverage == ("KE", "TZ")


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        ({"package": "no id", "day": 7, "price": 1, "dataAmount": 1, "dataUnit": "GB"}, "invalid_packageId"),
        (record("x1", day="seven"), "invalid_day"),
        (record("x2", price="cheap"), "invalid_price"),
        (record("x3", dataUnit="PB"), "unknown_data_unit"),
        (record("x4", dataAmount=None), "missing_data_amount"),
        (record("x5", day=True), "invalid_day"),
        ("not a record", "not_an_object"),
    ],
)
def test_a_malformed_record_is_skipped_and_counted_and_the_rest_syncs(broken, reason):
    catalog = normalise_nodes([node(packages=[record("good"), broken])])
    assert list(catalog.packages) == ["good"]
    assert catalog.skipped == 1
    assert catalog.skip_reasons[reason] == 1


def test_an_unreadable_record_with_an_id_is_remembered_so_it_is_not_deactivated():
    catalog = normalise_nodes([node(packages=[record("broken", day="x")])])
    assert catalog.unreadable_ids == {"broken"}


def test_a_broken_country_node_skips_its_records_without_crashing():
    catalog = normalise_nodes(
        [{"countryCode": None, "packages": [record("a"), record("b")]}, node(packages=[record("c")])]
    )
    assert list(catalog.packages) == ["c"]
    assert catalog.skipped == 2
    assert catalog.unreadable_ids == {"a", "b"}


def test_the_content_hash_ignores_lifecycle_fields_and_follows_content():
    package = normalise_nodes([node(packages=[record()])]).packages["esim-se-30d-10gb"]
    inactive = package.model_copy(update={"status": "inactive"})
    cheaper = package.model_copy(update={"price": Decimal("9.99")})
    assert inactive.compute_hash() == package.content_hash
    assert cheaper.compute_hash() != package.content_hash
