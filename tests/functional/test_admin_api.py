"""The admin routes of AdminFunction through the local stack: HTTP, the gateway and its authorizer,
the handler, moto's DynamoDB. Every route refuses bad input with a 4xx in the error shape and
writes nothing; the happy paths answer the documented shapes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from roamsync.container import Container, get_container
from roamsync.domain.packages import Package
from roamsync_dev.local_stack import LocalStack
from tests.fakes.my_packages import GB, catalog_package, dedupe_scenario, shop_row

pytestmark = pytest.mark.e2e

MY = "/api/admin/my-packages"
VALIDATE = "/api/admin/packages/validate"
INVALID = "/api/admin/packages/invalid"
DEDUPE = "/api/admin/packages/deduplicate-my-packages"

ROUTES = [
    ("GET", MY),
    ("POST", MY),
    ("GET", f"{MY}/some-id"),
    ("PATCH", f"{MY}/some-id"),
    ("DELETE", f"{MY}/some-id"),
    ("POST", VALIDATE),
    ("GET", INVALID),
    ("POST", DEDUPE),
    ("POST", "/api/admin/packages/runs/some-run/undo"),
]


class Admin:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack

    def call(
        self, method: str, path: str, body: Any = None, *, raw: str | None = None, **params: Any
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.stack.admin_token}", "Content-Type": "application/json"}
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return requests.request(
            method, f"{self.stack.gateway_url}{path}", headers=headers, data=data, params=params, timeout=30
        )

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        client = self.stack.dynamodb_client()
        snapshot = {}
        for table in ("MyPackagesTable", "RunsTable"):
            pages = client.get_paginator("scan").paginate(TableName=self.stack.table_names[table])
            snapshot[table] = sorted((i for p in pages for i in p["Items"]), key=json.dumps)
        return snapshot


@pytest.fixture
def admin(local_stack: LocalStack) -> Iterator[Admin]:
    """The stack with an empty MyPackages table."""
    container = get_container()
    for row in list(container.my_packages.all()):
        container.my_packages.delete(row.id, expected_updated_at=row.updated_at)
    yield Admin(local_stack)


def catalog(container: Container) -> list[Package]:
    return sorted(
        (p for p in container.packages.load_all().values() if p.status == "active"),
        key=lambda p: p.reseller_id,
    )


def is_error_shape(response: requests.Response) -> bool:
    body = response.json()
    return (
        set(body) == {"error"}
        and isinstance(body["error"].get("code"), str)
        and isinstance(body["error"].get("message"), str)
    )


# ---- authorisation -------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_admin_route_needs_the_admin_token(local_stack: LocalStack, method: str, path: str):
    anonymous = requests.request(method, f"{local_stack.gateway_url}{path}", timeout=10)
    client = requests.request(
        method,
        f"{local_stack.gateway_url}{path}",
        headers={"Authorization": f"Bearer {local_stack.client_token}"},
        timeout=10,
    )

    assert anonymous.status_code == 401
    assert client.status_code == 403


# ---- bad input on every route --------------------------------------------------------------------


def bad_requests(package: Package, taken: Package, row_id: str, validation_run: str) -> list[tuple[Any, ...]]:
    """(method, path, body or raw text, query, expected status) that must all be refused."""
    mine = f"{MY}/{row_id}"
    return [
        ("GET", MY, None, {"limit": "0"}, 400),
        ("GET", MY, None, {"limit": "101"}, 400),
        ("GET", MY, None, {"limit": "ten"}, 400),
        ("GET", MY, None, {"cursor": "not-a-cursor"}, 400),
        ("GET", MY, None, {"status": "broken"}, 400),
        ("GET", MY, None, {"countryCode": "123"}, 400),
        ("POST", MY, "{not json", {}, 400),
        ("POST", MY, {}, {}, 400),
        ("POST", MY, {"resellerId": package.reseller_id}, {}, 400),  # no sale price
        ("POST", MY, {"resellerId": package.reseller_id, "salePrice": 0}, {}, 400),
        ("POST", MY, {"resellerId": package.reseller_id, "salePrice": -3}, {}, 400),
        ("POST", MY, {"resellerId": package.reseller_id, "salePrice": "cheap"}, {}, 400),
        ("POST", MY, {"resellerId": package.reseller_id, "salePrice": True}, {}, 400),
        ("POST", MY, {"resellerId": package.reseller_id, "salePrice": 9.999}, {}, 400),
        ("POST", MY, {"resellerId": package.reseller_id, "salePrice": 9, "basePrice": -1}, {}, 400),
        ("POST", MY, {"resellerId": package.reseller_id, "salePrice": 9, "colour": "red"}, {}, 400),
        ("POST", MY, {"resellerId": package.reseller_id, "salePrice": 9, "dataMb": 1}, {}, 400),
        ("POST", MY, {"resellerId": package.reseller_id, "salePrice": 9, "countryCode": "AQ"}, {}, 400),
        ("POST", MY, {"resellerId": 42, "salePrice": 9}, {}, 400),
        ("POST", MY, {"resellerId": "no-such-package", "salePrice": 9}, {}, 404),
        ("POST", MY, {"draft": True, "salePrice": 9}, {}, 400),  # a draft needs a name
        ("POST", MY, {"resellerId": taken.reseller_id, "salePrice": 9}, {}, 409),
        ("POST", MY, ["not", "an", "object"], {}, 400),
        ("GET", f"{MY}/no-such-row", None, {}, 404),
        ("PATCH", f"{MY}/no-such-row", {"name": "x"}, {}, 404),
        ("PATCH", mine, {}, {}, 400),
        ("PATCH", mine, "{not json", {}, 400),
        ("PATCH", mine, {"salePrice": -5}, {}, 400),
        ("PATCH", mine, {"name": None}, {}, 400),
        ("PATCH", mine, {"visible": "yes"}, {}, 400),
        ("PATCH", mine, {"colour": "red"}, {}, 400),
        ("PATCH", mine, {"resellerId": "no-such-package"}, {}, 404),
        ("PATCH", mine, {"validityDays": 30}, {}, 400),  # from the catalog
        ("DELETE", f"{MY}/no-such-row", None, {}, 404),
        ("POST", VALIDATE, "{not json", {}, 400),
        ("POST", VALIDATE, {"fix": "yes"}, {}, 400),
        ("POST", VALIDATE, {"dryRun": 1}, {}, 400),
        ("POST", VALIDATE, {"force": True}, {}, 400),
        ("GET", INVALID, None, {"limit": "0"}, 400),
        ("GET", INVALID, None, {"limit": "1000"}, 400),
        ("GET", INVALID, None, {"cursor": "eyJpZCI6IDF9"}, 400),
        ("POST", DEDUPE, "{not json", {}, 400),
        ("POST", DEDUPE, {"dryRun": "no"}, {}, 400),
        ("POST", DEDUPE, {"everything": True}, {}, 400),
        ("POST", "/api/admin/packages/runs/no-such-run/undo", None, {}, 404),
        ("POST", f"/api/admin/packages/runs/{validation_run}/undo", None, {}, 400),
        ("POST", f"/api/admin/packages/runs/{'x' * 300}/undo", None, {}, 400),
    ]


def test_bad_input_on_every_route_is_a_4xx_in_the_error_shape_and_writes_nothing(admin: Admin):
    # given a catalog, a row and a validation run to aim at
    container = get_container()
    package, taken = catalog(container)[:2]
    created = admin.call("POST", MY, {"resellerId": taken.reseller_id, "salePrice": 99})
    assert created.status_code == 201, created.text
    validation_run = admin.call("POST", VALIDATE, {}).json()["runId"]
    before = admin.tables()

    for method, path, body, query, status in bad_requests(
        package, taken, created.json()["id"], validation_run
    ):
        raw = body if isinstance(body, str) else None
        response = admin.call(method, path, None if raw else body, raw=raw, **query)
        assert response.status_code == status, (method, path, body, query, response.text)
        assert is_error_shape(response), response.text

    assert admin.tables() == before
    assert {route_of(m, p) for m, p, *_ in bad_requests(package, taken, "x", "y")} == set(ROUTES)


def route_of(method: str, path: str) -> tuple[str, str]:
    if path.startswith(f"{MY}/"):
        return method, f"{MY}/some-id"
    if path.endswith("/undo"):
        return method, "/api/admin/packages/runs/some-run/undo"
    return method, path


# ---- my packages ---------------------------------------------------------------------------------


def single_country(packages: list) -> list:
    return [p for p in packages if len(p.coverage) == 1]


def test_a_row_created_from_a_reseller_id_takes_country_data_and_days_from_the_catalog(admin: Admin):
    package = single_country(catalog(get_container()))[0]

    response = admin.call(
        "POST", MY, {"resellerId": package.reseller_id, "salePrice": "19.90", "name": "Mine"}
    )

    assert response.status_code == 201, response.text
    row = response.json()
    assert row["countryCode"] == package.coverage[0]
    assert (row["dataMb"], row["unlimited"], row["validityDays"]) == (
        package.data_mb,
        package.unlimited,
        package.validity_days,
    )
    assert row["salePrice"] == "19.90" and row["basePrice"] == str(package.price)
    assert row["validationStatus"] == ("valid" if package.price <= 19.9 else "invalid")
    assert admin.call("GET", f"{MY}/{row['id']}").json() == row


def test_a_multi_country_row_has_no_single_country_unless_one_it_covers_is_given(admin: Admin):
    # Its first listing's code (DK for a Europe plan, AF for "Africa Adventure") is not a destination.
    first, second, third = [p for p in catalog(get_container()) if len(p.coverage) > 1][:3]

    as_is = admin.call("POST", MY, {"resellerId": first.reseller_id, "salePrice": "99", "name": "As is"})
    chosen = admin.call(
        "POST", MY, {"resellerId": second.reseller_id, "salePrice": "99", "countryCode": second.coverage[-1]}
    )
    wrong = admin.call("POST", MY, {"resellerId": third.reseller_id, "salePrice": "99", "countryCode": "ZZ"})

    assert as_is.status_code == 201 and as_is.json()["countryCode"] is None
    assert chosen.status_code == 201 and chosen.json()["countryCode"] == second.coverage[-1]
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_request"
    assert len(admin.call("GET", MY, limit=100).json()["items"]) == 2


def test_a_draft_may_map_to_a_package_the_catalog_does_not_know(admin: Admin):
    response = admin.call(
        "POST", MY, {"resellerId": "coming-soon", "draft": True, "name": "Soon", "countryCode": "se"}
    )

    assert response.status_code == 201, response.text
    row = response.json()
    assert row["countryCode"] == "SE" and row["visible"] is False
    assert (row["validationStatus"], row["validationReason"]) == ("invalid", "not_in_catalog")


def test_patch_changes_the_given_fields_and_delete_answers_the_row_as_it_was(admin: Admin):
    package = catalog(get_container())[0]
    row = admin.call("POST", MY, {"resellerId": package.reseller_id, "salePrice": 500}).json()

    patched = admin.call("PATCH", f"{MY}/{row['id']}", {"salePrice": 0.5, "visible": False})
    deleted = admin.call("DELETE", f"{MY}/{row['id']}")

    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["salePrice"] == "0.5" and body["visible"] is False
    assert body["updatedAt"] > row["updatedAt"]
    assert (body["validationStatus"], body["validationReason"]) == ("invalid", "negative_margin")
    assert deleted.status_code == 200 and deleted.json() == body
    assert admin.call("GET", f"{MY}/{row['id']}").status_code == 404


def test_the_list_pages_through_every_row_once_and_filters(admin: Admin):
    packages = single_country(catalog(get_container()))[:7]
    for p in packages:
        assert admin.call("POST", MY, {"resellerId": p.reseller_id, "salePrice": 999}).status_code == 201

    seen, cursor, pages = [], None, 0
    while True:
        page = admin.call("GET", MY, limit=3, **({"cursor": cursor} if cursor else {})).json()
        seen += [r["resellerId"] for r in page["items"]]
        cursor, pages = page["nextCursor"], pages + 1
        if cursor is None:
            break

    assert sorted(seen) == sorted(p.reseller_id for p in packages) and pages >= 3
    country = packages[0].coverage[0]
    by_country = admin.call("GET", MY, countryCode=country.lower(), limit=100).json()["items"]
    assert {r["countryCode"] for r in by_country} == {country}
    assert len(admin.call("GET", MY, status="valid", limit=100).json()["items"]) == 7
    assert admin.call("GET", MY, status="invalid").json() == {"items": [], "nextCursor": None}


# ---- validation, dedupe, undo --------------------------------------------------------------------


def test_validate_fix_and_undo_through_the_api(admin: Admin):
    container = get_container()
    gone = catalog_package("api-gone", country="SE", status="inactive", price="10.00")
    better = catalog_package("api-better", country="SE", data_mb=50 * GB, days=30, price="1.00")
    container.packages.write([gone, better])
    container.my_packages.save(shop_row("api-fixable", gone))
    container.my_packages.save(shop_row("api-draft", None))

    dry = admin.call("POST", VALIDATE, {"fix": True, "dryRun": True})
    invalid = admin.call("GET", INVALID, limit=10).json()
    fixed = admin.call("POST", VALIDATE, {"fix": True})

    assert dry.status_code == 200 and dry.json()["status"] == "dry_run"
    assert invalid == {"items": [], "nextCursor": None}  # the dry run wrote no verdict
    body = fixed.json()
    assert fixed.status_code == 200, fixed.text
    assert {k: body["counts"][k] for k in ("checked", "valid", "invalid", "fixed")} == {
        "checked": 2,
        "valid": 1,
        "invalid": 1,
        "fixed": 1,
    }
    assert body["health"]["healthScore"] == 50.0
    assert container.my_packages.get("api-fixable").reseller_id == "api-better"  # type: ignore[union-attr]
    [draft] = admin.call("GET", INVALID).json()["items"]
    assert draft == {
        "id": "api-draft",
        "name": "Draft api-draft",
        "resellerId": None,
        "countryCode": None,
        "reason": "missing_reseller_id",
        "suggestedReplacement": None,
    }

    undone = admin.call("POST", f"/api/admin/packages/runs/{body['autofix']['runId']}/undo")

    assert undone.status_code == 200, undone.text
    assert undone.json()["restoredCount"] == 1 and undone.json()["conflicts"] == []
    assert container.my_packages.get("api-fixable").reseller_id == "api-gone"  # type: ignore[union-attr]
    suggestion = {i["id"]: i for i in admin.call("GET", INVALID).json()["items"]}["api-fixable"]
    assert suggestion["reason"] == "inactive_upstream"
    assert suggestion["suggestedReplacement"]["packageId"] == "api-better"


def test_dedupe_through_the_api_dry_run_then_real_then_undo(admin: Admin):
    container = get_container()
    rows, packages, must_go, look_alikes = dedupe_scenario()
    container.packages.write(packages.values())
    for row in rows:
        container.my_packages.save(row)
    before = {r.id: r for r in container.my_packages.all()}

    dry = admin.call("POST", DEDUPE, {"dryRun": True}).json()
    after_dry = {r.id: r for r in container.my_packages.all()}
    real = admin.call("POST", DEDUPE).json()
    after_real = {r.id for r in container.my_packages.all()}
    undone = admin.call("POST", f"/api/admin/packages/runs/{real['runId']}/undo").json()

    expected = {"resellerIdDuplicates": 5, "combinationDuplicates": 3}
    assert dry == {
        "status": "success",
        "removedCount": 8,
        "details": expected,
        "runId": dry["runId"],
        "dryRun": True,
    }
    assert real == {
        "status": "success",
        "removedCount": 8,
        "details": expected,
        "runId": real["runId"],
        "dryRun": False,
    }
    assert after_dry == before
    assert after_real == set(before) - must_go and look_alikes <= after_real
    assert undone["restoredCount"] == 8
    assert {r.id: r for r in container.my_packages.all()} == before
