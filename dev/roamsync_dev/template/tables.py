"""The template's DynamoDB tables and the environment variables naming them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from roamsync_dev.template.document import TABLE_TYPE, _globals, _properties, _resources


@dataclass(frozen=True)
class TableSpec:
    """A DynamoDB table as boto3's `create_table` wants it, plus what needs calls of its own."""

    logical_id: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    global_secondary_indexes: list[dict[str, Any]]
    local_secondary_indexes: list[dict[str, Any]]
    billing_mode: str
    provisioned_throughput: dict[str, int] | None
    ttl_attribute: str | None  # TimeToLiveSpecification's attribute, when enabled
    point_in_time_recovery: bool

    def create_table_kwargs(self, table_name: str) -> dict[str, Any]:
        """Keyword arguments for `dynamodb_client.create_table` under `table_name`."""
        kwargs: dict[str, Any] = {
            "TableName": table_name,
            "KeySchema": [dict(k) for k in self.key_schema],
            "AttributeDefinitions": [dict(a) for a in self.attribute_definitions],
            "BillingMode": self.billing_mode,
        }
        if self.global_secondary_indexes:
            kwargs["GlobalSecondaryIndexes"] = [dict(i) for i in self.global_secondary_indexes]
        if self.local_secondary_indexes:
            kwargs["LocalSecondaryIndexes"] = [dict(i) for i in self.local_secondary_indexes]
        if self.provisioned_throughput:
            kwargs["ProvisionedThroughput"] = dict(self.provisioned_throughput)
        return kwargs


def _index(spec: Mapping[str, Any]) -> dict[str, Any]:
    index: dict[str, Any] = {
        "IndexName": spec["IndexName"],
        "KeySchema": [
            {"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in spec["KeySchema"]
        ],
        "Projection": dict(spec.get("Projection") or {"ProjectionType": "ALL"}),
    }
    if spec.get("ProvisionedThroughput"):
        index["ProvisionedThroughput"] = dict(spec["ProvisionedThroughput"])
    return index


def table_specs(template: Mapping[str, Any]) -> dict[str, TableSpec]:
    """Every `AWS::DynamoDB::Table` of the template, by logical id."""
    specs: dict[str, TableSpec] = {}
    for logical_id, resource in _resources(template, TABLE_TYPE).items():
        props = _properties(resource)
        ttl = props.get("TimeToLiveSpecification") or {}
        pitr = props.get("PointInTimeRecoverySpecification") or {}
        throughput = props.get("ProvisionedThroughput")
        specs[logical_id] = TableSpec(
            logical_id=logical_id,
            key_schema=[
                {"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in props["KeySchema"]
            ],
            attribute_definitions=[
                {"AttributeName": a["AttributeName"], "AttributeType": a["AttributeType"]}
                for a in props["AttributeDefinitions"]
            ],
            global_secondary_indexes=[_index(i) for i in props.get("GlobalSecondaryIndexes") or ()],
            local_secondary_indexes=[_index(i) for i in props.get("LocalSecondaryIndexes") or ()],
            billing_mode=str(props.get("BillingMode", "PROVISIONED")),
            provisioned_throughput=dict(throughput) if throughput else None,
            ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled") is True else None,
            point_in_time_recovery=pitr.get("PointInTimeRecoveryEnabled") is True,
        )
    return specs


def table_env(template: Mapping[str, Any]) -> dict[str, str]:
    """Globals' variables that name a table: env var → table logical id (PACKAGES_TABLE → PackagesTable)."""
    tables = _resources(template, TABLE_TYPE)
    variables = (_globals(template, "Function").get("Environment") or {}).get("Variables") or {}
    return {
        name: value["Ref"]
        for name, value in variables.items()
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in tables
    }
