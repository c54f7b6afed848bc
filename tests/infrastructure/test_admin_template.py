"""template.yaml declares AdminFunction's routes behind the admin authorizer with least-privilege
policies, and gives the nightly run (SyncFunction) what validation and auto-fix need."""

from __future__ import annotations

from typing import Any

import pytest

from roamsync_dev.template import api_routes, functions, load_template

ADMIN_ROUTES = {
    ("GET", "/api/admin/my-packages"),
    ("POST", "/api/admin/my-packages"),
    ("GET", "/api/admin/my-packages/{id}"),
    ("PATCH", "/api/admin/my-packages/{id}"),
    ("DELETE", "/api/admin/my-packages/{id}"),
    ("POST", "/api/admin/packages/validate"),
    ("GET", "/api/admin/packages/invalid"),
    ("POST", "/api/admin/packages/deduplicate-my-packages"),
    ("POST", "/api/admin/packages/runs/{runId}/undo"),
    ("GET", "/api/admin/packages/health"),
    ("GET", "/api/admin/packages/sync-status"),
}


DASHBOARD_PATH = "/admin"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def policies(template: dict[str, Any], function: str) -> set[tuple[str, str]]:
    declared = template["Resources"][function]["Properties"]["Policies"]
    found = set()
    for policy in declared:
        (name, spec), *_ = policy.items()
        if name == "Statement":  # an inline statement: its actions, one entry each
            found.update(("Statement", str(action)) for st in spec for action in [st["Action"]])
            continue
        target = spec.get("TableName") or spec.get("SecretArn") or spec.get("FunctionName")
        found.add((name, target.get("Ref") if isinstance(target, dict) and "Ref" in target else str(target)))
    return found


def test_the_admin_routes_reach_admin_function_behind_the_default_authorizer(
    template: dict[str, Any],
) -> None:
    routes = {
        (r.method, r.path): r
        for r in api_routes(template)
        if r.function == "AdminFunction" and r.path != DASHBOARD_PATH
    }

    assert set(routes) == ADMIN_ROUTES
    assert all(r.uses_default_authorizer and not r.public for r in routes.values())
    assert (functions(template)["AdminFunction"].code_dir / "app.py").is_file()


def test_the_dashboard_page_is_a_public_get_on_admin_function(template: dict[str, Any]) -> None:
    [page] = [r for r in api_routes(template) if r.path == DASHBOARD_PATH]

    assert (page.method, page.function) == ("GET", "AdminFunction")
    assert page.public and not page.uses_default_authorizer
    assert (functions(template)["AdminFunction"].code_dir / "dashboard.html").is_file()


def test_admin_function_reads_the_catalog_and_writes_only_its_own_tables(template: dict[str, Any]) -> None:
    assert policies(template, "AdminFunction") == {
        ("DynamoDBReadPolicy", "PackagesTable"),
        ("DynamoDBCrudPolicy", "MyPackagesTable"),
        ("DynamoDBCrudPolicy", "RunsTable"),
        # sync-status: Roamify's health check with the API key, and the nightly rule's state (read only)
        ("AWSSecretsManagerGetSecretValuePolicy", "RoamifyApiKeySecret"),
        ("Statement", "events:DescribeRule"),
    }
    assert functions(template)["AdminFunction"].timeout <= 29


def test_the_nightly_run_may_validate_and_fix_the_shops_rows(template: dict[str, Any]) -> None:
    sync = template["Resources"]["SyncFunction"]["Properties"]

    assert ("DynamoDBCrudPolicy", "MyPackagesTable") in policies(template, "SyncFunction")
    assert sync["Events"]["Nightly"]["Type"] == "Schedule"
    assert sync["Events"]["Nightly"]["Properties"]["State"] == {
        "Fn::If": ["ScheduleOn", "ENABLED", "DISABLED"]
    }
