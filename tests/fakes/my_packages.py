"""In-memory stand-ins for the self-healing services' ports: the catalog, the shop's rows, the runs.

They keep the adapters' contracts (conditional writes raise Conflict exactly when the DynamoDB
condition would fail; runs round-trip through JSON as the Runs table stores them), so the services
can be tested with no sockets and no patching.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from roamsync.adapters.dynamo import decode_cursor, encode_cursor, utcnow
from roamsync.domain.errors import Conflict
from roamsync.domain.my_packages import MyPackage
from roamsync.domain.packages import Package
from roamsync.domain.runs import Run, RunKind, RunStatus
from tests.fakes.dynamo import as_stored
from tests.fakes.packages import GB, FakePackages, make_plan

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


class StepClock:
    """A clock that moves one second every time it is read: every write gets its own timestamp."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def catalog_package(reseller_id: str, *, country: str = "SE", **fields: Any) -> Package:
    """A catalog package (default: a 5 GB, 7-day Swedish data plan at 10 USD)."""
    return make_plan(
        reseller_id,
        name=f"{country} {reseller_id}",
        country=country,
        country_name=f"Country {country}",
        **fields,
    )


def shop_row(
    my_id: str, package: Package | None, *, sale_price: str | None = "15.00", **overrides: Any
) -> MyPackage:
    """A shop row as create would make it from `package` (or a bare draft when None)."""
    values: dict[str, Any] = {
        "id": my_id,
        "reseller_id": package.reseller_id if package else None,
        "name": f"My {package.name}" if package else f"Draft {my_id}",
        "country_code": package.country_code if package else None,
        "country_name": package.country_name if package else None,
        "region": package.region if package else None,
        "data_mb": package.data_mb if package else None,
        "unlimited": package.unlimited if package else False,
        "validity_days": package.validity_days if package else None,
        "base_price": package.price if package else None,
        "sale_price": Decimal(sale_price) if sale_price is not None else None,
        "created_at": T0 - timedelta(days=30),
        "updated_at": T0 - timedelta(days=30),
    }
    values.update(overrides)
    return MyPackage(**values)


class FakeCatalog(FakePackages):
    """The Packages table: by key, by many keys, and the country and region "indexes"."""

    def __init__(self, packages: Iterable[Package] = ()) -> None:
        super().__init__(packages)
        self.batch_gets = 0
        self.country_queries = 0

    def get_many(self, reseller_ids: Iterable[str]) -> dict[str, Package]:
        self.batch_gets += 1
        return {r: self.packages[r] for r in set(reseller_ids) if r in self.packages}

    def by_country(self, country_code: str) -> Iterator[Package]:
        self.country_queries += 1
        return super().by_country(country_code)


class FakeMyPackages:
    """The MyPackages table with the adapter's conditional-write semantics."""

    def __init__(self, rows: Iterable[MyPackage] = ()) -> None:
        self.rows: dict[str, MyPackage] = {r.id: as_stored(r) for r in rows}
        self.writes = 0

    def get(self, my_package_id: str) -> MyPackage | None:
        return self.rows.get(my_package_id)

    def all(self) -> Iterator[MyPackage]:
        return iter(sorted(self.rows.values(), key=lambda r: r.id))

    def by_reseller_id(self, reseller_id: str) -> list[MyPackage]:
        return [r for r in self.all() if r.reseller_id == reseller_id]

    def page(
        self,
        *,
        limit: int,
        cursor: str | None = None,
        country_code: str | None = None,
        validation_status: str | None = None,
    ) -> tuple[list[MyPackage], str | None]:
        start = decode_cursor(cursor, ["id"])  # BadRequest for a cursor the adapter would refuse
        after = start["id"]["S"] if start else None
        rows = [
            r
            for r in self.all()
            if (after is None or r.id > after)
            and (not country_code or r.country_code == country_code.upper())
            and (
                validation_status is None
                or r.validation_status == (None if validation_status == "unvalidated" else validation_status)
            )
        ]
        page = rows[:limit]
        return page, encode_cursor({"id": {"S": page[-1].id}}) if len(rows) > limit else None

    def _unchanged(self, my_package_id: str, expected_updated_at: datetime | None) -> None:
        current = self.rows.get(my_package_id)
        if current is None or current.updated_at != expected_updated_at:
            raise Conflict(f"my-package {my_package_id!r} was changed or removed meanwhile")

    def create(self, row: MyPackage) -> None:
        if row.id in self.rows:
            raise Conflict(f"my-package {row.id!r} already exists")
        self.rows[row.id] = as_stored(row)
        self.writes += 1

    def replace(self, row: MyPackage, *, expected_updated_at: datetime | None) -> None:
        self._unchanged(row.id, expected_updated_at)
        self.rows[row.id] = as_stored(row)
        self.writes += 1

    def delete(self, my_package_id: str, *, expected_updated_at: datetime | None) -> None:
        self._unchanged(my_package_id, expected_updated_at)
        del self.rows[my_package_id]
        self.writes += 1

    def set_validation(self, row: MyPackage, *, expected_updated_at: datetime | None) -> None:
        self._unchanged(row.id, expected_updated_at)
        current = self.rows[row.id]
        self.rows[row.id] = current.model_copy(
            update={
                "validation_status": row.validation_status,
                "validation_reason": row.validation_reason,
                "validated_at": row.validated_at,
            }
        )
        self.writes += 1


class FakeRuns:
    """The Runs table: each save stores the run's JSON, as the adapter does, and renews an
    unfinished run's lease from `clock`; a read settles a run past its lease as abandoned."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.clock = clock

    def save(self, run: Run, *, expected_status: RunStatus | None = None) -> None:
        run.renew_lease(self.clock())
        if expected_status is not None:
            stored = self.records.get(run.run_id)
            if stored is None or stored["status"] != expected_status.value:
                raise Conflict(f"run {run.run_id} is no longer {expected_status}")
        self.records[run.run_id] = run.model_dump(mode="json")

    def _settled(self, record: dict[str, Any]) -> Run:
        run = Run.model_validate(record)
        if run.is_abandoned(self.clock()):
            run.settle_abandoned()
            self.records[run.run_id] = run.model_dump(mode="json")
        return run

    def get(self, run_id: str) -> Run | None:
        record = self.records.get(run_id)
        return self._settled(record) if record is not None else None

    def latest(self, kind: RunKind, limit: int = 10) -> list[Run]:
        runs = [self._settled(r) for r in list(self.records.values()) if r["kind"] == kind.value]
        return sorted(runs, key=lambda r: r.started_at, reverse=True)[:limit]

    def of_kind(self, kind: RunKind) -> list[Run]:
        return self.latest(kind, limit=1000)


def dedupe_scenario() -> tuple[list[MyPackage], dict[str, Package], set[str], set[str]]:
    """5 reseller-id duplicates + 3 combination duplicates + 2 look-alikes differing only in SMS.

    Returns the rows, the catalog, the ids that must go and the look-alikes that must stay.
    """
    a = catalog_package("pkg-a", data_mb=10 * GB)
    b1, b2, b3, b4 = (catalog_package(f"pkg-b{i}") for i in range(1, 5))  # the same offer, 4 ids
    plain = catalog_package("pkg-plain", country="NO")
    texting = catalog_package("pkg-sms", country="NO", sms=True)
    catalog = {p.reseller_id: p for p in (a, b1, b2, b3, b4, plain, texting)}
    rows = [
        # pkg-a mapped six times: the most complete stays, five go
        shop_row("a-keep", a, region="Europe", country_name="Sweden"),
        *(shop_row(f"a-dup{i}", a, region=None) for i in range(5)),
        # four rows, four reseller_ids, one offer (SE, 5 GB, 7 days, no extras, 15.00): three go
        shop_row("b-keep", b1, updated_at=T0),
        shop_row("b-dup1", b2),
        shop_row("b-dup2", b3),
        shop_row("b-dup3", b4, sale_price="15.0"),  # the same price, written differently
        # the same in everything a row records, but one has SMS: two offers, both stay
        shop_row("look-plain", plain),
        shop_row("look-sms", texting),
    ]
    removed = {f"a-dup{i}" for i in range(5)} | {"b-dup1", "b-dup2", "b-dup3"}
    return rows, catalog, removed, {"look-plain", "look-sms"}
