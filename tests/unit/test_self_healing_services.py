"""Validation, auto-fix, dedupe, undo and the nightly run, on in-memory ports: what ends up in the rows
and in the run records."""

from __future__ import annotations

import copy
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamsync.domain.errors import BadRequest, Conflict, NotFound
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.runs import Run, RunKind, RunStatus, Trigger
from roamsync.services.dedupe import deduplicate
from roamsync.services.mapping import (
    VERDICT_ATTEMPTS,
    autofix_mappings,
    invalid_mappings_page,
    mapping_health,
    validate_and_fix,
    validate_mappings,
)
from roamsync.services.my_packages import MyPackageInput, update_my_package
from roamsync.services.nightly import run_nightly
from roamsync.services.undo import undo_run
from tests.fakes.my_packages import (
    GB,
    T0,
    FakeCatalog,
    FakeMyPackages,
    FakeRuns,
    StepClock,
    catalog_package,
    dedupe_scenario,
    shop_row,
)

TOLERANCE = Decimal("0.10")


class World:
    """The three stores and a clock, and the services called on them."""

    def __init__(self, catalog: FakeCatalog, rows: list[MyPackage]) -> None:
        self.catalog = catalog
        self.rows = FakeMyPackages(rows)
        self.runs = FakeRuns()
        self.clock = StepClock()

    def ports(self) -> dict:
        return {"my_packages": self.rows, "packages": self.catalog, "runs": self.runs, "clock": self.clock}

    def validate(self, *, fix: bool = False, dry_run: bool = False, trigger: Trigger = Trigger.CLI):
        return validate_and_fix(
            **self.ports(), trigger=trigger, max_price_increase=TOLERANCE, fix=fix, dry_run=dry_run
        )

    def dedupe(self, *, dry_run: bool = False):
        return deduplicate(**self.ports(), trigger=Trigger.CLI, dry_run=dry_run)

    def undo(self, run_id: str):
        return undo_run(run_id, my_packages=self.rows, runs=self.runs, clock=self.clock, trigger=Trigger.CLI)

    def table(self) -> dict[str, MyPackage]:
        return copy.deepcopy(self.rows.rows)


def broken_shop() -> World:
    """Ten rows: six valid, one of each reason, and one more inactive one with no safe fix."""
    good = [catalog_package(f"good{i}", country="NO") for i in range(6)]
    gone = catalog_package("gone", status="inactive", price="10.00")
    better = catalog_package("better", data_mb=10 * GB, price="9.00")  # replaces `gone`
    lonely = catalog_package("lonely", country="FI", status="inactive")
    pricey = catalog_package("pricey", country="DK", price="20.00")
    catalog = FakeCatalog([*good, gone, better, lonely, pricey])
    rows = [shop_row(f"ok{i}", p) for i, p in enumerate(good)]
    rows += [
        shop_row("fixable", gone),
        shop_row("unfixable", lonely),
        shop_row("loss", pricey, sale_price="15.00"),
        shop_row("draft", None),
    ]
    rows.append(shop_row("unknown", catalog_package("never-listed", country="IS")))
    return World(catalog, rows)


# ---- validation ----------------------------------------------------------------------------------


def test_validation_checks_every_row_and_its_counts_match_the_rows():
    world = broken_shop()

    outcome = world.validate()

    stored = list(world.rows.all())
    counts = outcome.run.counts
    assert counts["checked"] == len(stored) == 11
    assert counts["valid"] == sum(r.validation_status == "valid" for r in stored) == 6
    assert counts["invalid"] == sum(r.validation_status == "invalid" for r in stored) == 5
    assert counts["fixed"] == 0
    assert {r.id: r.validation_reason for r in stored if r.validation_status == "invalid"} == {
        "fixable": "inactive_upstream",
        "unfixable": "inactive_upstream",
        "loss": "negative_margin",
        "draft": "missing_reseller_id",
        "unknown": "not_in_catalog",
    }
    assert all(r.validated_at is not None for r in stored)
    assert outcome.health.to_json() == {
        "totalPackages": 11,
        "validPackages": 6,
        "invalidPackages": 5,
        "unvalidatedPackages": 0,
        "healthScore": 54.5,
    }
    assert world.runs.get(outcome.run.run_id).status is RunStatus.SUCCEEDED  # type: ignore[union-attr]


def test_the_catalog_is_read_once_per_validation_not_once_per_row():
    world = broken_shop()

    world.validate()

    assert world.catalog.batch_gets == 1
    assert world.catalog.country_queries == 0


def test_a_second_validation_with_nothing_changed_writes_no_row():
    world = broken_shop()
    world.validate()
    before, writes = world.table(), world.rows.writes

    outcome = world.validate()

    assert world.rows.writes == writes
    assert world.table() == before
    assert outcome.run.counts["written"] == 0


def test_a_dry_run_writes_neither_rows_nor_a_run_record():
    world = broken_shop()
    before = world.table()

    outcome = world.validate(fix=True, dry_run=True)

    assert world.table() == before
    assert world.runs.records == {}
    assert outcome.run.counts["fixed"] == 1  # what a real run would fix


def test_health_is_over_every_row_with_the_last_validation_time():
    world = broken_shop()
    assert mapping_health(my_packages=world.rows, runs=world.runs)["lastValidation"] is None

    outcome = world.validate()
    health = mapping_health(my_packages=world.rows, runs=world.runs)

    assert health["totalPackages"] == 11 and health["healthScore"] == 54.5
    assert health["lastValidation"] == outcome.run.finished_at.isoformat()  # type: ignore[union-attr]


def test_invalid_rows_page_with_equivalent_or_better_suggestions_only():
    world = broken_shop()
    world.validate()

    first = invalid_mappings_page(
        my_packages=world.rows, packages=world.catalog, limit=3, cursor=None, max_price_increase=TOLERANCE
    )
    second = invalid_mappings_page(
        my_packages=world.rows,
        packages=world.catalog,
        limit=3,
        cursor=first["nextCursor"],
        max_price_increase=TOLERANCE,
    )

    items = {i["id"]: i for i in first["items"] + second["items"]}
    assert len(first["items"]) == 3 and second["nextCursor"] is None
    assert set(items) == {"fixable", "unfixable", "loss", "draft", "unknown"}
    assert items["fixable"]["suggestedReplacement"]["packageId"] == "better"
    assert items["fixable"]["suggestedReplacement"]["keepsMargin"] is True
    assert items["unfixable"]["suggestedReplacement"] is None
    assert items["draft"]["suggestedReplacement"] is None
    assert items["loss"]["reason"] == "negative_margin"


class EditedAfterReading:
    """A fake table, with a shop admin's edit landing on one row right after validation has read it
    (before validation writes any verdict)."""

    def __init__(self, rows: FakeMyPackages, row_id: str, edit) -> None:
        self.rows, self.row_id, self.edit = rows, row_id, edit

    def __getattr__(self, name):
        return getattr(self.rows, name)

    def all(self):
        for row in self.rows.all():
            yield row
            if row.id == self.row_id:
                self.edit()


def test_a_row_remapped_after_validation_read_it_ends_with_the_verdict_of_its_new_content():
    world = broken_shop()
    world.catalog.put(catalog_package("retired", country="NO", status="inactive"))

    def remap() -> None:
        update_my_package(
            "ok0",
            MyPackageInput(reseller_id="retired"),
            draft=False,
            my_packages=world.rows,
            packages=world.catalog,
            clock=world.clock,
        )

    outcome = validate_mappings(
        **{**world.ports(), "my_packages": EditedAfterReading(world.rows, "ok0", remap)}, trigger=Trigger.CLI
    )

    row = world.rows.get("ok0")
    assert row is not None
    assert (row.reseller_id, row.validation_status, row.validation_reason) == (
        "retired",
        "invalid",
        "inactive_upstream",
    )
    stored = list(world.rows.all())
    assert outcome.run.counts["checked"] == len(stored)
    assert outcome.run.counts["valid"] == sum(r.validation_status == "valid" for r in stored) == 5
    assert outcome.run.counts["invalid"] == sum(r.validation_status == "invalid" for r in stored) == 6


class EditedAtEveryVerdict:
    """A fake table where one row is renamed again each time validation is about to store its
    verdict: validation can never judge the row as it stands."""

    def __init__(self, rows: FakeMyPackages, row_id: str, clock: StepClock) -> None:
        self.rows, self.row_id, self.clock, self.edits = rows, row_id, clock, 0

    def __getattr__(self, name):
        return getattr(self.rows, name)

    def set_validation(self, row: MyPackage, *, expected_updated_at) -> None:
        if row.id == self.row_id:
            current = self.rows.rows[row.id]
            self.edits += 1
            edited = current.model_copy(update={"name": f"edit {self.edits}", "updated_at": self.clock()})
            self.rows.replace(edited, expected_updated_at=current.updated_at)
        self.rows.set_validation(row, expected_updated_at=expected_updated_at)


def test_a_row_that_keeps_changing_is_left_for_the_next_run_and_counted_as_a_conflict():
    world = broken_shop()
    racing = EditedAtEveryVerdict(world.rows, "ok0", world.clock)

    outcome = validate_mappings(**{**world.ports(), "my_packages": racing}, trigger=Trigger.CLI)

    row = world.rows.get("ok0")
    assert racing.edits == VERDICT_ATTEMPTS
    assert row is not None and row.name == f"edit {VERDICT_ATTEMPTS}" and row.validation_status is None
    counts = outcome.run.counts
    assert (counts["checked"], counts["valid"], counts["invalid"], counts["conflicts"]) == (10, 5, 5, 1)
    assert "ok0" not in {c.row.id for c in outcome.checks}
    # and the next run, with the row left alone, judges it
    again = world.validate()
    assert world.rows.get("ok0").validation_status == "valid"  # type: ignore[union-attr]
    assert (again.run.counts["checked"], again.run.counts["conflicts"]) == (11, 0)


def test_a_row_deleted_after_validation_read_it_is_skipped():
    world = broken_shop()

    def delete() -> None:
        row = world.rows.get("ok0")
        assert row is not None
        world.rows.delete("ok0", expected_updated_at=row.updated_at)

    outcome = validate_mappings(
        **{**world.ports(), "my_packages": EditedAfterReading(world.rows, "ok0", delete)}, trigger=Trigger.CLI
    )

    assert world.rows.get("ok0") is None
    assert (outcome.run.counts["checked"], outcome.run.counts["valid"], outcome.run.counts["conflicts"]) == (
        10,
        5,
        0,
    )


def test_the_fake_table_refuses_a_verdict_for_a_row_changed_or_removed_since_like_dynamodb():
    read = shop_row("m1", catalog_package("p"))
    rows = FakeMyPackages([read.model_copy(update={"updated_at": T0})])
    verdict = read.model_copy(update={"validation_status": "valid"})

    with pytest.raises(Conflict):
        rows.set_validation(verdict, expected_updated_at=read.updated_at)
    with pytest.raises(Conflict):
        rows.set_validation(shop_row("gone", None), expected_updated_at=None)
    rows.set_validation(verdict, expected_updated_at=T0)
    assert rows.get("m1") == read.model_copy(update={"validation_status": "valid", "updated_at": T0})


# ---- auto-fix and undo ---------------------------------------------------------------------------


def test_auto_fix_remaps_only_what_has_a_safe_replacement_and_records_the_before_image():
    world = broken_shop()

    outcome = world.validate(fix=True)

    fixed = world.rows.get("fixable")
    assert fixed is not None and fixed.reseller_id == "better" and fixed.validation_status == "valid"
    assert world.rows.get("unfixable").reseller_id == "lonely"  # type: ignore[union-attr]
    assert outcome.run.counts == {**outcome.run.counts, "checked": 11, "valid": 7, "invalid": 4, "fixed": 1}
    autofix = world.runs.get(outcome.run.details["autofixRunId"])
    assert autofix is not None and autofix.kind is RunKind.AUTOFIX and autofix.counts["fixed"] == 1
    [change] = autofix.details["changes"]
    assert change["id"] == "fixable"
    assert change["before"]["reseller_id"] == "gone" and change["after"]["reseller_id"] == "better"


def test_undo_puts_the_auto_fixed_rows_back_exactly_and_a_second_undo_changes_nothing():
    world = broken_shop()
    world.validate()
    validated = world.table()
    autofix_id = world.validate(fix=True).run.details["autofixRunId"]

    first = world.undo(autofix_id)
    after_first = world.table()
    second = world.undo(autofix_id)

    assert after_first == validated
    assert first.body()["restoredCount"] == 1 and first.conflicts == []
    assert second.body()["restoredCount"] == 0 and second.body()["alreadyRestoredCount"] == 1
    assert world.table() == validated
    undo_record = world.runs.get(first.run.run_id)
    assert undo_record is not None and undo_record.kind is RunKind.UNDO
    assert undo_record.details["undoes"] == autofix_id


def test_undo_reports_a_row_edited_since_and_leaves_it_as_edited():
    world = broken_shop()
    autofix_id = world.validate(fix=True).run.details["autofixRunId"]
    fixed = world.rows.get("fixable")
    assert fixed is not None
    edited = fixed.model_copy(update={"name": "edited by hand", "updated_at": world.clock()})
    world.rows.replace(edited, expected_updated_at=fixed.updated_at)

    outcome = world.undo(autofix_id)

    assert outcome.body()["restoredCount"] == 0
    assert outcome.conflicts == [{"id": "fixable", "reason": "edited_since"}]
    assert world.rows.get("fixable") == edited
    assert world.runs.get(outcome.run.run_id).status is RunStatus.PARTIAL  # type: ignore[union-attr]


def test_a_row_edited_between_validation_and_fix_is_not_fixed():
    world = broken_shop()
    validation = validate_mappings(**world.ports(), trigger=Trigger.CLI)
    row = world.rows.get("fixable")
    assert row is not None
    edited = row.model_copy(update={"sale_price": Decimal("30.00"), "updated_at": world.clock()})
    world.rows.replace(edited, expected_updated_at=row.updated_at)

    outcome = autofix_mappings(
        validation.checks, **world.ports(), trigger=Trigger.CLI, max_price_increase=TOLERANCE
    )

    assert world.rows.get("fixable") == edited
    assert outcome.run.counts["fixed"] == 0 and outcome.run.counts["conflicts"] == 1
    assert world.runs.get(outcome.run.run_id).details["changes"][0]["applied"] is False  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ["no-such-run"])
def test_undo_of_an_unknown_run_is_not_found(bad):
    with pytest.raises(NotFound):
        broken_shop().undo(bad)


def test_only_auto_fix_and_dedupe_runs_can_be_undone():
    world = broken_shop()
    validation = world.validate()

    with pytest.raises(BadRequest):
        world.undo(validation.run.run_id)


COUNTRIES = ["SE", "NO"]


@st.composite
def fixable_shops(draw: st.DrawFn) -> World:
    packages = []
    for i in range(draw(st.integers(1, 8))):
        packages.append(
            catalog_package(
                f"p{i}",
                country=draw(st.sampled_from(COUNTRIES)),
                data_mb=draw(st.sampled_from([1 * GB, 5 * GB, 10 * GB])),
                days=draw(st.sampled_from([7, 30])),
                price=draw(st.sampled_from(["5.00", "9.00", "10.00", "12.00"])),
                status=draw(st.sampled_from(["active", "inactive"])),
                sms=draw(st.booleans()),
            )
        )
    rows = []
    for i in range(draw(st.integers(0, 8))):
        package = draw(st.sampled_from(packages))
        rows.append(
            shop_row(
                f"m{i}",
                package,
                sale_price=draw(st.sampled_from(["8.00", "11.00", "15.00"])),
                name=draw(st.sampled_from(["A", "B"])),
                updated_at=shop_row("x", None).updated_at + timedelta(minutes=i),  # type: ignore[operator]
            )
        )
    return World(FakeCatalog(packages), rows)


@settings(max_examples=100, deadline=None)
@given(fixable_shops())
def test_undo_after_an_auto_fix_gives_back_the_original_rows_exactly(world: World):
    world.validate()
    original = world.table()
    outcome = world.validate(fix=True)

    undone = world.undo(outcome.run.details["autofixRunId"])

    assert world.table() == original
    assert undone.conflicts == []
    assert len(undone.restored) == outcome.run.counts["fixed"]


# ---- dedupe --------------------------------------------------------------------------------------


def dedupe_world() -> World:
    rows, catalog, _, _ = dedupe_scenario()
    return World(FakeCatalog(catalog.values()), rows)


def test_dedupe_removes_the_eight_duplicates_and_keeps_the_look_alikes():
    world = dedupe_world()
    _, _, must_go, look_alikes = dedupe_scenario()

    body = world.dedupe().body()

    assert body == {
        "status": "success",
        "removedCount": 8,
        "details": {"resellerIdDuplicates": 5, "combinationDuplicates": 3},
        "runId": body["runId"],
        "dryRun": False,
    }
    assert not must_go & set(world.rows.rows)
    assert look_alikes <= set(world.rows.rows)
    archived = world.runs.get(body["runId"])
    assert archived is not None and {c["id"] for c in archived.details["changes"]} == must_go


def test_a_dedupe_dry_run_removes_nothing_and_reports_the_same_counts():
    world = dedupe_world()
    before = world.table()

    dry = world.dedupe(dry_run=True).body()

    assert world.table() == before
    assert world.runs.records == {}
    real = world.dedupe().body()
    assert dry["dryRun"] is True
    assert (dry["removedCount"], dry["details"]) == (real["removedCount"], real["details"])


def test_undo_of_a_dedupe_restores_all_eight_rows():
    world = dedupe_world()
    before = world.table()
    run_id = world.dedupe().body()["runId"]

    outcome = world.undo(run_id)

    assert outcome.body()["restoredCount"] == 8
    assert world.table() == before


def test_undo_of_a_dedupe_reports_an_id_taken_since():
    world = dedupe_world()
    run_id = world.dedupe().body()["runId"]
    squatter = shop_row("a-dup0", catalog_package("other"))
    world.rows.create(squatter)

    outcome = world.undo(run_id)

    assert outcome.body()["restoredCount"] == 7
    assert outcome.conflicts == [{"id": "a-dup0", "reason": "id_taken"}]
    assert world.rows.get("a-dup0") == squatter


# ---- the nightly run -----------------------------------------------------------------------------


def fake_sync(world: World, status: RunStatus, reason: str | None = None):
    def sync() -> Run:
        run = Run(kind=RunKind.SYNC, trigger=Trigger.SCHEDULE, started_at=world.clock(), status=status)
        run.reason, run.finished_at = reason, world.clock()
        world.runs.save(run)
        return run

    return sync


def nightly(world: World, sync):
    return run_nightly(sync=sync, **world.ports(), max_price_increase=TOLERANCE)


def test_the_nightly_run_records_a_sync_a_validation_and_an_auto_fix():
    world = broken_shop()

    outcome = nightly(world, fake_sync(world, RunStatus.SUCCEEDED))

    kinds = sorted(r["kind"] for r in world.runs.records.values())
    assert kinds == ["autofix", "sync", "validation"]
    assert all(r["trigger"] == "schedule" for r in world.runs.records.values())
    assert outcome.autofix is not None and outcome.autofix.counts["fixed"] == 1
    assert world.rows.get("fixable").reseller_id == "better"  # type: ignore[union-attr]


@pytest.mark.parametrize("status", [RunStatus.REFUSED, RunStatus.FAILED])
def test_after_a_sync_that_did_not_apply_validation_reports_and_auto_fix_changes_nothing(status):
    world = broken_shop()
    world.validate()
    before = world.table()

    outcome = nightly(world, fake_sync(world, status, reason="too_many_deactivations"))

    assert world.table() == before
    assert outcome.validation is not None and outcome.validation.run.counts["invalid"] == 5
    assert outcome.autofix is not None
    assert outcome.autofix.status is RunStatus.SKIPPED and outcome.autofix.reason == "sync_not_applied"
    assert "too_many_deactivations" in (outcome.autofix.error or "")
    assert sorted(r.kind.value for r in world.runs.of_kind(RunKind.AUTOFIX)) == ["autofix"]


def test_a_crashing_sync_does_not_stop_the_validation():
    world = broken_shop()

    def crash() -> Run:
        raise RuntimeError("boom")

    outcome = nightly(world, crash)

    assert outcome.validation is not None and outcome.validation.run.status is RunStatus.SUCCEEDED
    assert outcome.autofix is not None and outcome.autofix.status is RunStatus.SKIPPED
    assert outcome.summary()["status"] == "failed"
