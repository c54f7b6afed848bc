"""The self-healing adapters and services on moto's DynamoDB: paging, conditional writes, run records
too large for one item, and validation / dedupe / undo as the tables see them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import boto3
import pytest

from roamsync.adapters.dynamo import INLINE_RECORD_LIMIT, changes_chunk_id
from roamsync.container import Container, sync_catalog
from roamsync.domain.errors import BadRequest, Conflict
from roamsync.domain.mapping import choose_fix
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.packages import Package
from roamsync.domain.runs import Run, RunKind, RunStatus, Trigger
from roamsync.services.catalog import destination_of
from roamsync.services.dedupe import deduplicate
from roamsync.services.mapping import validate_and_fix
from roamsync.services.my_packages import MyPackageInput, create_my_package, update_my_package
from roamsync.services.undo import undo_run
from roamsync_dev import lambda_runtime
from tests.conftest import REGION, TABLE_NAMES, make_settings
from tests.fakes.my_packages import GB, T0, StepClock, catalog_package, dedupe_scenario, shop_row


@pytest.fixture
def tables(aws: None) -> Iterator[Container]:
    yield Container(make_settings(), clock=StepClock())


def scan(table: str) -> list[dict]:
    client = boto3.client("dynamodb", region_name=REGION)
    return [
        i
        for page in client.get_paginator("scan").paginate(TableName=TABLE_NAMES[table])
        for i in page["Items"]
    ]


def rows_of(c: Container) -> dict[str, MyPackage]:
    return {r.id: r for r in c.my_packages.all()}


# ---- MyPackages repository -----------------------------------------------------------------------


def test_pages_cover_every_matching_row_once_and_the_last_page_has_no_cursor(tables: Container):
    repo = tables.my_packages
    for i in range(23):
        repo.save(shop_row(f"m{i:02}", catalog_package(f"p{i}", country="SE" if i % 2 else "NO")))

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        rows, cursor = repo.page(limit=5, cursor=cursor, country_code="se")
        seen += [r.id for r in rows]
        pages += 1
        if cursor is None:
            break

    assert sorted(seen) == [f"m{i:02}" for i in range(23) if i % 2]
    assert len(seen) == len(set(seen))
    assert pages >= 3


def test_a_cursor_this_api_did_not_give_out_is_a_bad_request(tables: Container):
    for cursor in ["not base64!", "eyJ4IjogMX0", "W10", json.dumps({"id": {"S": "x"}})]:
        with pytest.raises(BadRequest):
            tables.my_packages.page(limit=5, cursor=cursor)


def test_the_status_filter_finds_valid_invalid_and_never_validated_rows(tables: Container):
    repo = tables.my_packages
    repo.save(shop_row("v", None, validation_status="valid"))
    repo.save(shop_row("i", None, validation_status="invalid"))
    repo.save(shop_row("n", None))

    def ids(status: str) -> list[str]:
        return [r.id for r in repo.page(limit=10, validation_status=status)[0]]

    assert (ids("valid"), ids("invalid"), ids("unvalidated")) == (["v"], ["i"], ["n"])


def test_conditional_writes_lose_to_an_edit_made_meanwhile(tables: Container):
    repo = tables.my_packages
    row = shop_row("m1", catalog_package("p"))
    repo.create(row)
    with pytest.raises(Conflict):
        repo.create(row)
    edited = row.model_copy(update={"name": "edited", "updated_at": T0})
    repo.replace(edited, expected_updated_at=row.updated_at)

    with pytest.raises(Conflict):
        repo.replace(row, expected_updated_at=row.updated_at)
    with pytest.raises(Conflict):
        repo.delete("m1", expected_updated_at=row.updated_at)
    assert repo.get("m1") == edited
    repo.delete("m1", expected_updated_at=T0)
    assert repo.get("m1") is None


def test_a_verdict_is_written_only_onto_the_content_it_was_judged_on(tables: Container):
    repo = tables.my_packages
    read = shop_row("m1", catalog_package("p"))
    repo.save(read)
    edited = read.model_copy(update={"name": "edited meanwhile", "updated_at": T0})
    repo.save(edited)
    verdict = {"validation_status": "invalid", "validation_reason": "not_in_catalog", "validated_at": T0}

    with pytest.raises(Conflict):
        repo.set_validation(read.model_copy(update=verdict), expected_updated_at=read.updated_at)
    assert repo.get("m1") == edited

    repo.set_validation(edited.model_copy(update=verdict), expected_updated_at=edited.updated_at)
    assert repo.get("m1") == edited.model_copy(update=verdict)  # only the validation fields changed
    with pytest.raises(Conflict):
        repo.set_validation(shop_row("gone", None, validation_status="valid"), expected_updated_at=None)
    assert repo.get("gone") is None


def test_a_row_never_stamped_takes_a_verdict_until_an_edit_stamps_it(tables: Container):
    repo = tables.my_packages
    legacy = shop_row("legacy", catalog_package("p"), updated_at=None)
    repo.save(legacy)
    valid = {"validation_status": "valid", "validated_at": T0}

    repo.set_validation(legacy.model_copy(update=valid), expected_updated_at=None)
    stamped = repo.get("legacy")
    assert stamped is not None and stamped.validation_status == "valid" and stamped.updated_at is None
    repo.replace(stamped.model_copy(update={"name": "edited", "updated_at": T0}), expected_updated_at=None)

    with pytest.raises(Conflict):
        repo.set_validation(
            legacy.model_copy(update={"validation_status": "invalid"}), expected_updated_at=None
        )
    assert repo.get("legacy").validation_status == "valid"  # type: ignore[union-attr]


def test_many_packages_are_read_with_batch_gets(tables: Container):
    tables.packages.write([catalog_package(f"p{i}") for i in range(130)])

    found = tables.packages.get_many([f"p{i}" for i in range(0, 130, 2)] + ["unknown"])

    assert set(found) == {f"p{i}" for i in range(0, 130, 2)}


# ---- run records too large for one item ----------------------------------------------------------


def test_a_run_whose_changes_exceed_one_item_is_stored_in_chunks_and_read_back_whole(tables: Container):
    bulky = [
        {
            "id": f"m{i}",
            "before": shop_row(f"m{i}", None, name="x" * 900).model_dump(mode="json"),
            "after": None,
        }
        for i in range(1200)
    ]
    run = Run(kind=RunKind.DEDUPE, trigger=Trigger.CLI, started_at=T0, status=RunStatus.SUCCEEDED)
    run.details["changes"] = bulky

    tables.runs.save(run)

    items = {i["run_id"]["S"]: i for i in scan("RunsTable")}
    assert len(items) > 2  # the run and its chunks
    assert all(len(json.dumps(i["record"]["S"])) < 400_000 for i in items.values())
    assert len(items[run.run_id]["record"]["S"]) < INLINE_RECORD_LIMIT
    assert changes_chunk_id(run.run_id, 0) in items
    assert tables.runs.get(run.run_id) == run
    assert tables.runs.get(changes_chunk_id(run.run_id, 0)) is None
    assert [r.run_id for r in tables.runs.latest(RunKind.DEDUPE)] == [run.run_id]


def test_a_small_run_keeps_its_changes_inline(tables: Container):
    run = Run(kind=RunKind.AUTOFIX, trigger=Trigger.CLI, started_at=T0, status=RunStatus.SUCCEEDED)
    run.details["changes"] = [{"id": "m1", "before": None, "after": None}]

    tables.runs.save(run)

    assert [i["run_id"]["S"] for i in scan("RunsTable")] == [run.run_id]
    assert tables.runs.get(run.run_id) == run


# ---- the services on the real tables -------------------------------------------------------------


def ports(c: Container) -> dict:
    return {"my_packages": c.my_packages, "packages": c.packages, "runs": c.runs, "clock": c.clock}


def test_validation_counts_match_the_rows_in_the_table(tables: Container):
    gone = catalog_package("gone", status="inactive", price="10.00")
    better = catalog_package("better", data_mb=10 * GB, price="9.00")
    good = [catalog_package(f"good{i}") for i in range(5)]
    tables.packages.write([gone, better, *good])
    for i, p in enumerate(good):
        tables.my_packages.save(shop_row(f"ok{i}", p))
    tables.my_packages.save(shop_row("fixable", gone))
    tables.my_packages.save(shop_row("draft", None))

    outcome = validate_and_fix(
        **ports(tables), trigger=Trigger.CLI, max_price_increase=Decimal("0.1"), fix=True
    )

    items = scan("MyPackagesTable")
    statuses = [i.get("validation_status", {}).get("S") for i in items]
    assert outcome.run.counts["checked"] == len(items) == 7
    assert outcome.run.counts["valid"] == statuses.count("valid") == 6
    assert outcome.run.counts["invalid"] == statuses.count("invalid") == 1
    assert outcome.run.counts["fixed"] == 1
    stored = tables.runs.get(outcome.run.run_id)
    assert stored is not None and stored.counts == outcome.run.counts


def test_dedupe_then_undo_on_the_tables_gives_back_every_row(tables: Container):
    rows, catalog, must_go, _ = dedupe_scenario()
    tables.packages.write(catalog.values())
    for row in rows:
        tables.my_packages.save(row)
    before = rows_of(tables)

    outcome = deduplicate(**ports(tables), trigger=Trigger.API)
    after_dedupe = set(rows_of(tables))
    undone = undo_run(
        outcome.run.run_id,
        my_packages=tables.my_packages,
        runs=tables.runs,
        clock=tables.clock,
        trigger=Trigger.API,
    )

    assert outcome.body()["removedCount"] == 8
    assert after_dedupe == set(before) - must_go
    assert undone.body()["restoredCount"] == 8
    assert rows_of(tables) == before


def test_a_row_edited_before_dedupe_deletes_it_is_kept_and_counted_as_a_conflict(tables: Container):
    package = catalog_package("p")
    tables.packages.write([package])
    older = shop_row("older", package, updated_at=T0 - timedelta(days=2))
    tables.my_packages.save(older)
    tables.my_packages.save(shop_row("newer", package, updated_at=T0))

    class EditsFirst:
        """The table, with an admin edit landing just before dedupe's delete."""

        def __init__(self, repo):
            self.repo = repo

        def __getattr__(self, name):
            return getattr(self.repo, name)

        def delete(self, my_package_id, *, expected_updated_at):
            self.repo.save(older.model_copy(update={"name": "edited", "updated_at": T0 + timedelta(hours=1)}))
            return self.repo.delete(my_package_id, expected_updated_at=expected_updated_at)

    outcome = deduplicate(
        **{**ports(tables), "my_packages": EditsFirst(tables.my_packages)}, trigger=Trigger.CLI
    )

    assert outcome.body()["removedCount"] == 0
    assert outcome.run.counts["conflicts"] == 1
    assert tables.my_packages.get("older").name == "edited"  # type: ignore[union-attr]
    assert tables.runs.get(outcome.run.run_id).details["changes"][0]["applied"] is False  # type: ignore[union-attr]


# ---- validation racing an edit: the moto tables and the simulator's catalog ----------------------


def live_and_gone(container: Container, simulator) -> tuple[Package, Package]:
    """Sync the simulator's catalog over HTTP, have Roamify stop listing one package and sync again:
    an active single-country package and a deactivated one, as the sync stored them."""
    sync_catalog(container, Trigger.CLI)
    local = sorted(
        (p for p in container.packages.load_all().values() if p.status == "active" and len(p.coverage) == 1),
        key=lambda p: p.reseller_id,
    )
    live, gone = local[0], local[1]
    simulator.remove_packages([gone.reseller_id])
    sync_catalog(container, Trigger.CLI)
    stored = container.packages.get(gone.reseller_id)
    assert stored is not None and stored.status == "inactive"
    return live, stored


class EditedAfterReading:
    """The real MyPackages repository, with a shop admin's edit landing on one row right after
    validation has read it (before validation writes any verdict)."""

    def __init__(self, repo, row_id: str, edit) -> None:
        self.repo, self.row_id, self.edit = repo, row_id, edit

    def __getattr__(self, name):
        return getattr(self.repo, name)

    def all(self):
        for row in self.repo.all():
            yield row
            if row.id == self.row_id:
                self.edit()


def stored_verdicts() -> dict[str, tuple[str | None, str | None, str | None]]:
    """Each MyPackages item's (reseller_id, validation_status, validation_reason), read raw."""
    return {
        i["id"]["S"]: tuple(  # type: ignore[misc]
            i[name]["S"] if name in i else None
            for name in ("reseller_id", "validation_status", "validation_reason")
        )
        for i in scan("MyPackagesTable")
    }


@pytest.mark.parametrize("updated_at", [T0 - timedelta(days=30), None], ids=["updated_at", "no_updated_at"])
def test_a_row_remapped_after_validation_read_it_ends_with_the_verdict_of_its_new_content(
    container: Container, simulator, updated_at
):
    # given two unvalidated legacy rows on a live package, one of them (maybe) never stamped
    live, gone = live_and_gone(container, simulator)
    other = next(p for p in container.packages.load_all().values() if p.status == "active" and p != live)
    sale = str(max(live.price, other.price) * 2)
    container.my_packages.save(shop_row("mine", live, sale_price=sale, updated_at=updated_at))
    container.my_packages.save(shop_row("other", other, sale_price=sale, updated_at=None))

    def remap_to_the_gone_package() -> None:
        update_my_package(
            "mine",
            MyPackageInput(reseller_id=gone.reseller_id),
            draft=False,
            my_packages=container.my_packages,
            packages=container.packages,
            clock=container.clock,
        )

    # when the admin remaps "mine" to a package Roamify no longer lists while validation runs
    racing = EditedAfterReading(container.my_packages, "mine", remap_to_the_gone_package)
    outcome = validate_and_fix(
        **{**ports(container), "my_packages": racing},
        trigger=Trigger.API,
        max_price_increase=Decimal("0.1"),
    )

    # then the table holds the verdict for what the row says now, not for what validation read
    verdicts = stored_verdicts()
    assert verdicts["mine"] == (gone.reseller_id, "invalid", "inactive_upstream")
    assert verdicts["other"] == (other.reseller_id, "valid", None)
    # and the run's counts are those of the table
    statuses = [status for _, status, _ in verdicts.values()]
    stored = container.runs.get(outcome.run.run_id)
    assert stored is not None
    for counts in (outcome.run.counts, stored.counts):
        assert (counts["checked"], counts["valid"], counts["invalid"]) == (
            len(verdicts),
            statuses.count("valid"),
            statuses.count("invalid"),
        )


def test_an_auto_fix_never_overwrites_a_row_edited_after_validation_read_it(container: Container, simulator):
    # given a row on a package Roamify stopped listing, with a safe replacement in the catalog
    sync_catalog(container, Trigger.CLI)
    catalog = sorted(
        (p for p in container.packages.load_all().values() if p.status == "active"),
        key=lambda p: p.reseller_id,
    )
    row, package = next(
        (r, p)
        for p in catalog
        if (r := shop_row("mine", p, sale_price=str(p.price * 2)))
        and choose_fix(
            r,
            p,
            [c for c in catalog if c != p],
            destination_of(p, r) or "",
            max_price_increase=Decimal("0.1"),
        )
    )
    container.my_packages.save(row)
    simulator.remove_packages([package.reseller_id])
    sync_catalog(container, Trigger.CLI)

    class EditedBeforeTheFix:
        """The real table, with the admin's price change landing just before auto-fix's write."""

        def __init__(self, repo) -> None:
            self.repo = repo

        def __getattr__(self, name):
            return getattr(self.repo, name)

        def replace(self, fixed: MyPackage, *, expected_updated_at) -> None:
            update_my_package(
                fixed.id,
                MyPackageInput(name="Repriced by hand", sale_price=Decimal("99.00")),
                draft=False,
                my_packages=self.repo,
                packages=container.packages,
                clock=container.clock,
            )
            self.repo.replace(fixed, expected_updated_at=expected_updated_at)

    outcome = validate_and_fix(
        **{**ports(container), "my_packages": EditedBeforeTheFix(container.my_packages)},
        trigger=Trigger.API,
        max_price_increase=Decimal("0.1"),
        fix=True,
    )

    [item] = scan("MyPackagesTable")
    assert item["reseller_id"]["S"] == package.reseller_id  # not remapped over the edit
    assert (item["name"]["S"], Decimal(item["sale_price"]["N"])) == ("Repriced by hand", Decimal("99.00"))
    assert item["validation_status"]["S"] == "invalid"
    assert outcome.autofix is not None
    autofix = container.runs.get(outcome.autofix.run_id)
    assert autofix is not None and (autofix.counts["fixed"], autofix.counts["conflicts"]) == (0, 1)
    assert autofix.details["changes"][0]["applied"] is False
    assert outcome.run.counts["fixed"] == 0 and outcome.run.counts["invalid"] == 1


# ---- dedupe over the simulator's catalog: where a package works is part of the offer -------------

DEDUPE_EVENT = json.loads(
    (Path(__file__).resolve().parents[2] / "events" / "dedupe-api-dry-run.json").read_text()
)


def same_offer_elsewhere(catalog: list[Package]) -> tuple[Package, Package]:
    """A single-country package and a multi-country one covering that country that make the same
    offer in everything else: data, days, SMS, calls, hotspot, throttling, currency."""

    def offer(p: Package) -> tuple:
        return (
            p.data_mb,
            p.unlimited,
            p.validity_days,
            p.with_sms,
            p.with_call,
            p.with_hotspot,
            p.throttled,
            p.throttle_speed_kbps,
            p.throttle_threshold_mb,
            p.currency,
        )

    pairs = [
        (single, multi)
        for single in catalog
        if len(single.coverage) == 1
        for multi in catalog
        if len(multi.coverage) > 1 and single.country_code in multi.coverage and offer(single) == offer(multi)
    ]
    assert pairs, "the simulator's catalog should hold a regional plan equal to a local one but for coverage"
    return min(pairs, key=lambda pair: (pair[0].reseller_id, pair[1].reseller_id))


def test_a_single_country_row_and_a_regional_row_with_equal_data_days_and_price_are_both_kept(
    container: Container,
):
    # given the shop sells a one-country plan and a regional plan for that country, at one price
    sync_catalog(container, Trigger.CLI)
    catalog = [p for p in container.packages.load_all().values() if p.status == "active"]
    single, regional = same_offer_elsewhere(catalog)
    price = str(max(single.price, regional.price) * 2)
    for my_id, package in (("single", single), ("regional", regional)):
        create_my_package(
            MyPackageInput(
                reseller_id=package.reseller_id, sale_price=Decimal(price), country_code=single.country_code
            ),
            draft=False,
            my_packages=container.my_packages,
            packages=container.packages,
            clock=container.clock,
            new_id=lambda my_id=my_id: my_id,
        )
    rows = rows_of(container)
    assert {
        (r.country_code, r.data_mb, r.unlimited, r.validity_days, r.sale_price) for r in rows.values()
    } == {(single.country_code, single.data_mb, single.unlimited, single.validity_days, Decimal(price))}

    # when dedupe runs through the admin route, as a preview and for real
    answers = [
        lambda_runtime.invoke("AdminFunction", {**DEDUPE_EVENT, "body": json.dumps({"dryRun": dry_run})})
        for dry_run in (True, False)
    ]

    # then neither row is a duplicate of the other: both are still in the table
    for answer in answers:
        assert answer["statusCode"] == 200
        body = json.loads(answer["body"])
        assert body["removedCount"] == 0
        assert body["details"] == {"resellerIdDuplicates": 0, "combinationDuplicates": 0}
    assert sorted(i["id"]["S"] for i in scan("MyPackagesTable")) == ["regional", "single"]
    run = container.runs.get(json.loads(answers[1]["body"])["runId"])
    assert run is not None and run.details["changes"] == [] and run.counts["combinationDuplicates"] == 0
