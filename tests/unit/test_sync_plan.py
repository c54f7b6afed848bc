"""The catalog diff and its safety rules."""

from datetime import UTC, datetime
from decimal import Decimal

from roamsync.domain.packages import NormalisedCatalog, Package
from roamsync.domain.sync_plan import ChangeKind, RefusalReason, Stored, plan_sync, to_write
from tests.fakes.packages import make_package

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
EARLIER = datetime(2026, 11, 1, tzinfo=UTC)


def pkg(reseller_id: str, price: str = "10.00", status: str = "active", **fields) -> Package:
    return make_package(
        reseller_id, data_mb=1024, price=Decimal(price), status=status, first_seen_at=EARLIER, **fields
    ).with_hash()


def snapshot(*packages: Package, unreadable=()) -> NormalisedCatalog:
    return NormalisedCatalog.of(packages, unreadable)


def stored(*packages: Package) -> dict[str, Stored]:
    return {
        p.reseller_id: Stored(p.content_hash, p.status, p.first_seen_at, frozenset(p.coverage))
        for p in packages
    }


def test_an_unchanged_snapshot_plans_no_writes():
    a, b = pkg("a"), pkg("b")
    plan = plan_sync(snapshot(a, b), stored(a, b), max_deactivation_ratio=0.2)
    assert plan.changes() == []
    assert plan.unchanged == 2
    assert plan.refusal is None


def test_new_and_changed_packages_are_written_and_first_seen_is_kept():
    a, b = pkg("a"), pkg("b")
    catalog = snapshot(a, pkg("b", "12.00"), pkg("c"))
    known = stored(a, b)
    plan = plan_sync(catalog, known, max_deactivation_ratio=0.2)
    assert plan.inserts == ["c"] and plan.updates == ["b"]
    updated = to_write(ChangeKind.UPDATED, catalog.get("b"), None, known["b"], NOW)
    inserted = to_write(ChangeKind.INSERTED, catalog.get("c"), None, None, NOW)
    assert updated.first_seen_at == EARLIER and updated.price == Decimal("12.00")
    assert inserted.first_seen_at == NOW and inserted.last_seen_at == NOW


def test_a_package_missing_upstream_is_planned_for_deactivation_not_deletion():
    packages = [pkg(str(i)) for i in range(10)]
    plan = plan_sync(snapshot(*packages[1:]), stored(*packages), max_deactivation_ratio=0.2)
    assert plan.missing == ["0"] and plan.deactivations == ["0"]
    written = to_write(ChangeKind.DEACTIVATED, None, packages[0], None, NOW)
    assert (written.reseller_id, written.status, written.deactivated_at) == ("0", "inactive", NOW)
    assert plan.refusal is None


def test_with_confirmations_only_the_packages_roamify_confirmed_gone_are_deactivated():
    packages = [pkg(str(i)) for i in range(10)]
    plan = plan_sync(snapshot(*packages[2:]), stored(*packages), max_deactivation_ratio=0.2, gone={"1"})
    assert plan.missing == ["0", "1"]
    assert plan.deactivations == ["1"]


def test_an_inactive_package_that_comes_back_is_reactivated():
    back = pkg("a", status="inactive")
    catalog = snapshot(pkg("a"))
    plan = plan_sync(catalog, stored(back), max_deactivation_ratio=0.2)
    assert plan.reactivations == ["a"]
    written = to_write(ChangeKind.REACTIVATED, catalog.get("a"), None, stored(back)["a"], NOW)
    assert (written.status, written.deactivated_at, written.first_seen_at) == ("active", None, EARLIER)


def test_an_already_inactive_package_still_missing_is_not_written_again():
    plan = plan_sync(
        snapshot(pkg("b")), stored(pkg("a", status="inactive"), pkg("b")), max_deactivation_ratio=0.2
    )
    assert plan.changes() == [] and plan.missing == []


def test_deactivating_more_than_the_ratio_is_refused():
    packages = [pkg(str(i)) for i in range(10)]
    plan = plan_sync(snapshot(*packages[3:]), stored(*packages), max_deactivation_ratio=0.2)
    assert plan.refusal is RefusalReason.TOO_MANY_DEACTIVATIONS
    assert "3 of 10" in plan.refusal_detail


def test_exactly_the_ratio_is_allowed():
    packages = [pkg(str(i)) for i in range(10)]
    plan = plan_sync(snapshot(*packages[2:]), stored(*packages), max_deactivation_ratio=0.2)
    assert plan.refusal is None
    assert len(plan.deactivations) == 2


def test_an_empty_snapshot_is_refused():
    plan = plan_sync(snapshot(), stored(pkg("a")), max_deactivation_ratio=1.0)
    assert plan.refusal is RefusalReason.EMPTY_SNAPSHOT


def test_an_incomplete_snapshot_is_refused_and_without_deactivations_when_forced():
    plan = plan_sync(
        snapshot(pkg("b"), pkg("c")), stored(pkg("a"), pkg("b")), max_deactivation_ratio=1.0, complete=False
    )
    assert plan.refusal is RefusalReason.INCOMPLETE_SNAPSHOT
    forced = plan.without_deactivations()
    assert forced.changes() == [(ChangeKind.INSERTED, "c")]


def test_an_unreadable_record_does_not_deactivate_its_package():
    plan = plan_sync(
        snapshot(pkg("b"), unreadable={"a"}), stored(pkg("a"), pkg("b")), max_deactivation_ratio=0.2
    )
    assert plan.deactivations == [] and plan.missing == []


def test_a_package_listed_with_less_coverage_than_stored_is_marked_for_a_lookup():
    wide = pkg("eu", coverage=("DE", "FR", "SE"))
    narrow = pkg("eu", coverage=("SE",))
    plan = plan_sync(snapshot(narrow), stored(wide), max_deactivation_ratio=0.2)
    assert plan.shrunk == ["eu"] and plan.updates == ["eu"]


def test_planned_names_every_kind_of_write():
    plan = plan_sync(snapshot(pkg("a"), pkg("c")), stored(pkg("a"), pkg("b")), max_deactivation_ratio=1.0)
    assert plan.planned() == {"inserted": 1, "updated": 0, "deactivated": 1, "reactivated": 0}
    assert (plan.fetched, plan.unchanged, plan.skipped) == (2, 1, 0)
