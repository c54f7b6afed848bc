"""The catalog diff and its safety rules."""

from datetime import UTC, datetime
from decimal import Decimal

from roamsync.domain.packages import NormalisedCatalog, Package
from roamsync.domain.sync_plan import RefusalReason, plan_sync
from tests.fakes.packages import make_package

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
EARLIER = datetime(2026, 11, 1, tzinfo=UTC)


def pkg(reseller_id: str, price: str = "10.00", status: str = "active") -> Package:
    return make_package(reseller_id, data_mb=1024, price=Decimal(price), status=status, first_seen_at=EARLIER)


def snapshot(*packages: Package, unreadable=()) -> NormalisedCatalog:
    return NormalisedCatalog(packages={p.reseller_id: p for p in packages}, unreadable_ids=set(unreadable))


def stored(*packages: Package) -> dict[str, Package]:
    return {p.reseller_id: p for p in packages}


def test_an_unchanged_snapshot_plans_no_writes():
    a, b = pkg("a"), pkg("b")
    plan = plan_sync(snapshot(a, b), stored(a, b), now=NOW, max_deactivation_ratio=0.2)
    assert plan.writes == []
    assert plan.unchanged == 2
    assert plan.refusal is None


def test_new_and_changed_packages_are_written_and_first_seen_is_kept():
    a, b = pkg("a"), pkg("b")
    plan = plan_sync(
        snapshot(a, pkg("b", "12.00"), pkg("c")), stored(a, b), now=NOW, max_deactivation_ratio=0.2
    )
    assert [p.reseller_id for p in plan.inserts] == ["c"]
    assert [p.reseller_id for p in plan.updates] == ["b"]
    assert plan.updates[0].first_seen_at == EARLIER
    assert plan.updates[0].price == Decimal("12.00")
    assert plan.inserts[0].first_seen_at == NOW


def test_a_package_missing_upstream_is_deactivated_not_deleted():
    packages = [pkg(str(i)) for i in range(10)]
    plan = plan_sync(snapshot(*packages[1:]), stored(*packages), now=NOW, max_deactivation_ratio=0.2)
    assert [(p.reseller_id, p.status, p.deactivated_at) for p in plan.deactivations] == [
        ("0", "inactive", NOW)
    ]
    assert plan.refusal is None


def test_an_inactive_package_that_comes_back_is_reactivated():
    back = pkg("a", status="inactive")
    plan = plan_sync(snapshot(pkg("a")), stored(back), now=NOW, max_deactivation_ratio=0.2)
    assert [(p.reseller_id, p.status, p.deactivated_at) for p in plan.reactivations] == [
        ("a", "active", None)
    ]


def test_an_already_inactive_package_still_missing_is_not_written_again():
    plan = plan_sync(
        snapshot(pkg("b")), stored(pkg("a", status="inactive"), pkg("b")), now=NOW, max_deactivation_ratio=0.2
    )
    assert plan.writes == []


def test_deactivating_more_than_the_ratio_is_refused():
    packages = [pkg(str(i)) for i in range(10)]
    plan = plan_sync(snapshot(*packages[3:]), stored(*packages), now=NOW, max_deactivation_ratio=0.2)
    assert plan.refusal is RefusalReason.TOO_MANY_DEACTIVATIONS
    assert "3 of 10" in plan.refusal_detail


def test_exactly_the_ratio_is_allowed():
    packages = [pkg(str(i)) for i in range(10)]
    plan = plan_sync(snapshot(*packages[2:]), stored(*packages), now=NOW, max_deactivation_ratio=0.2)
    assert plan.refusal is None
    assert len(plan.deactivations) == 2


def test_an_empty_snapshot_is_refused():
    plan = plan_sync(snapshot(), stored(pkg("a")), now=NOW, max_deactivation_ratio=1.0)
    assert plan.refusal is RefusalReason.EMPTY_SNAPSHOT


def test_an_incomplete_snapshot_is_refused_and_without_deactivations_when_forced():
    plan = plan_sync(
        snapshot(pkg("b"), pkg("c")),
        stored(pkg("a"), pkg("b")),
        now=NOW,
        max_deactivation_ratio=1.0,
        complete=False,
    )
    assert plan.refusal is RefusalReason.INCOMPLETE_SNAPSHOT
    forced = plan.without_deactivations()
    assert [p.reseller_id for p in forced.writes] == ["c"]


def test_an_unreadable_record_does_not_deactivate_its_package():
    plan = plan_sync(
        snapshot(pkg("b"), unreadable={"a"}), stored(pkg("a"), pkg("b")), now=NOW, max_deactivation_ratio=0.2
    )
    assert plan.deactivations == []


def test_counts_name_every_outcome():
    plan = plan_sync(
        snapshot(pkg("a"), pkg("c")), stored(pkg("a"), pkg("b")), now=NOW, max_deactivation_ratio=1.0
    )
    assert plan.counts() == {
        "fetched": 2,
        "inserted": 1,
        "updated": 0,
        "unchanged": 1,
        "deactivated": 1,
        "reactivated": 0,
        "skipped": 0,
    }
