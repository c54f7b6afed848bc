"""template.yaml as the local stack reads it: routes, functions, tables, and the models that must match."""

from __future__ import annotations

from typing import Any

import pytest
from pynamodb.models import Model

from roamsync.adapters.dynamo_models import (
    ALL_MODELS,
    MyPackageItem,
    OrderItem,
    PackageItem,
    RunItem,
    ValidationCacheItem,
)
from roamsync_dev.template import (
    TableSpec,
    api_routes,
    functions,
    gateway_responses,
    load_template,
    table_env,
    table_specs,
)

TABLES = ("PackagesTable", "MyPackagesTable", "ValidationCacheTable", "RunsTable", "OrdersTable")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def keys(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in schema]


def indexes(spec: TableSpec) -> dict[str, list[tuple[str, str]]]:
    return {i["IndexName"]: keys(i["KeySchema"]) for i in spec.global_secondary_indexes}


def test_short_tags_load_as_their_long_forms(template: dict[str, Any]) -> None:
    # given the template's `!Ref PackagesTable`, `!Sub "${AWS::StackName}-sync"` and `!If [...]`
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    sync = template["Resources"]["SyncFunction"]["Properties"]

    # then they read as CloudFormation's JSON forms
    assert variables["PACKAGES_TABLE"] == {"Ref": "PackagesTable"}
    assert sync["FunctionName"] == {"Fn::Sub": "${AWS::StackName}-sync"}
    assert sync["Events"]["Nightly"]["Properties"]["State"] == {
        "Fn::If": ["ScheduleOn", "ENABLED", "DISABLED"]
    }


def test_the_sync_route_is_a_post_on_the_sync_function_behind_the_authorizer(
    template: dict[str, Any],
) -> None:
    # when the routes are read
    routes = {(r.method, r.path): r for r in api_routes(template)}

    # then POST /api/admin/packages/sync reaches SyncFunction through the default authorizer
    route = routes[("POST", "/api/admin/packages/sync")]
    assert route.function == "SyncFunction"
    assert route.uses_default_authorizer
    assert route.authorizer == "BearerAuthorizer"
    assert not route.public


def test_an_event_with_authorizer_none_is_a_public_route(template: dict[str, Any]) -> None:
    # given a function whose Api event opts out of the default authorizer
    page = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": "functions/dashboard/",
            "Events": {
                "Page": {
                    "Type": "Api",
                    "Properties": {
                        "RestApiId": {"Ref": "RoamsyncApi"},
                        "Path": "/admin",
                        "Method": "get",
                        "Auth": {"Authorizer": "NONE"},
                    },
                }
            },
        },
    }
    extended = {**template, "Resources": {**template["Resources"], "DashboardFunction": page}}

    # when the routes are read
    route = next(r for r in api_routes(extended) if r.path == "/admin")

    # then it is public and still an upper-case GET
    assert route.method == "GET"
    assert route.public
    assert not route.uses_default_authorizer


def test_functions_take_their_code_dir_handler_and_timeout_from_the_template(
    template: dict[str, Any],
) -> None:
    # when the functions are read
    specs = functions(template)

    # then the sync function runs functions/sync/app.lambda_handler with its own 900 s and a resolved name
    sync = specs["SyncFunction"]
    assert sync.code_dir.parts[-2:] == ("functions", "sync")
    assert (sync.code_dir / "app.py").is_file()
    assert sync.handler == "app.lambda_handler"
    assert sync.timeout == 900
    assert sync.function_name == "roamsync-local-sync"
    # and the authorizer has no FunctionName, so Lambda knows it by its logical id locally
    assert specs["AuthorizerFunction"].timeout == 5
    assert specs["AuthorizerFunction"].function_name is None


def test_a_function_without_a_timeout_takes_the_globals_one(template: dict[str, Any]) -> None:
    # given a function that sets no Timeout
    bare = {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "functions/x/"}}
    extended = {**template, "Resources": {**template["Resources"], "BareFunction": bare}}

    # then it gets Globals.Function.Timeout (29)
    assert functions(extended)["BareFunction"].timeout == 29


def test_the_five_tables_are_declared_with_keys_indexes_ttl_and_pitr(template: dict[str, Any]) -> None:
    # when the table specs are read
    specs = table_specs(template)

    # then the five tables are there, on demand, with point-in-time recovery
    assert set(specs) == set(TABLES)
    assert all(s.billing_mode == "PAY_PER_REQUEST" for s in specs.values())
    assert all(s.point_in_time_recovery for s in specs.values())
    # with their keys and indexes
    assert keys(specs["PackagesTable"].key_schema) == [("reseller_id", "HASH")]
    assert indexes(specs["PackagesTable"]) == {
        "country_index": [("country_code", "HASH")],
        "spanning_region_index": [("spanning_region", "HASH")],
    }
    assert keys(specs["MyPackagesTable"].key_schema) == [("id", "HASH")]
    assert indexes(specs["MyPackagesTable"]) == {"reseller_id_index": [("reseller_id", "HASH")]}
    assert keys(specs["RunsTable"].key_schema) == [("run_id", "HASH")]
    assert indexes(specs["RunsTable"]) == {"kind_index": [("kind", "HASH"), ("started_at", "RANGE")]}
    assert keys(specs["OrdersTable"].key_schema) == [("order_id", "HASH")]
    assert keys(specs["ValidationCacheTable"].key_schema) == [("cache_key", "HASH")]
    # and only the validation cache expires its items, on expires_at
    assert {lid: s.ttl_attribute for lid, s in specs.items() if s.ttl_attribute} == {
        "ValidationCacheTable": "expires_at"
    }


def test_a_table_spec_is_what_create_table_takes(template: dict[str, Any]) -> None:
    # when the Runs table's create_table arguments are built
    kwargs = table_specs(template)["RunsTable"].create_table_kwargs("runs-local")

    # then they name the table and carry the keys, attributes, index and billing mode
    assert kwargs == {
        "TableName": "runs-local",
        "KeySchema": [{"AttributeName": "run_id", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "run_id", "AttributeType": "S"},
            {"AttributeName": "kind", "AttributeType": "S"},
            {"AttributeName": "started_at", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "kind_index",
                "KeySchema": [
                    {"AttributeName": "kind", "KeyType": "HASH"},
                    {"AttributeName": "started_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def test_table_env_maps_each_table_variable_to_its_table(template: dict[str, Any]) -> None:
    assert table_env(template) == {
        "PACKAGES_TABLE": "PackagesTable",
        "MY_PACKAGES_TABLE": "MyPackagesTable",
        "VALIDATION_CACHE_TABLE": "ValidationCacheTable",
        "RUNS_TABLE": "RunsTable",
        "ORDERS_TABLE": "OrdersTable",
    }


def test_gateway_responses_give_the_error_shape_for_401_and_403(template: dict[str, Any]) -> None:
    responses = gateway_responses(template)

    assert responses["UNAUTHORIZED"].status_code == 401
    assert '"code": "unauthorized"' in responses["UNAUTHORIZED"].body
    assert responses["ACCESS_DENIED"].status_code == 403
    assert '"code": "forbidden"' in responses["ACCESS_DENIED"].body


def _model_schema(model: type[Model]) -> dict[str, Any]:
    schema = model._get_schema()
    return {
        "keys": keys(schema["key_schema"]),
        "attributes": sorted(
            (a["AttributeName"], a["AttributeType"]) for a in schema["attribute_definitions"]
        ),
        "indexes": {
            i["index_name"]: (keys(i["key_schema"]), i["projection"]["ProjectionType"])
            for i in schema["global_secondary_indexes"]
        },
        "local_indexes": sorted(i["index_name"] for i in schema["local_secondary_indexes"]),
    }


def _table_schema(spec: TableSpec) -> dict[str, Any]:
    return {
        "keys": keys(spec.key_schema),
        "attributes": sorted((a["AttributeName"], a["AttributeType"]) for a in spec.attribute_definitions),
        "indexes": {
            i["IndexName"]: (keys(i["KeySchema"]), i["Projection"]["ProjectionType"])
            for i in spec.global_secondary_indexes
        },
        "local_indexes": sorted(i["IndexName"] for i in spec.local_secondary_indexes),
    }


@pytest.mark.parametrize(
    ("model", "table"),
    [
        (PackageItem, "PackagesTable"),
        (MyPackageItem, "MyPackagesTable"),
        (ValidationCacheItem, "ValidationCacheTable"),
        (RunItem, "RunsTable"),
        (OrderItem, "OrdersTable"),
    ],
)
def test_each_pynamodb_model_matches_its_template_table_exactly(
    template: dict[str, Any], model: type[Model], table: str
) -> None:
    # given the model and the table the template declares for it
    spec = table_specs(template)[table]

    # then keys, key attribute types, index names and index key schemas are the same
    assert _model_schema(model) == _table_schema(spec)


def test_each_table_variable_binds_the_model_of_that_table(template: dict[str, Any]) -> None:
    # given the settings field each model is bound through (PACKAGES_TABLE → packages_table → PackageItem)
    by_table = {table: ALL_MODELS[variable.lower()] for variable, table in table_env(template).items()}

    # then every variable points its model at the table whose schema that model has
    specs = table_specs(template)
    assert set(by_table) == set(TABLES)
    for table, model in by_table.items():
        assert _model_schema(model) == _table_schema(specs[table]), table
