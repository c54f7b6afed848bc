"""set_up_tables on moto, which implements TTL and point-in-time recovery as DynamoDB does: every
declared setting is applied, nothing is skipped, and a second run changes nothing."""

from __future__ import annotations

import boto3

from roamsync_dev.template import load_template, set_up_tables, table_specs
from tests.conftest import REGION


def test_on_an_endpoint_that_implements_everything_each_setting_is_applied_and_nothing_skipped(
    aws: None,
) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    template = load_template()
    names = {lid: f"setup-{lid}" for lid in table_specs(template)}

    first = set_up_tables(client, template, names)
    again = set_up_tables(client, template, names)

    assert first.created == list(names.values()) and first.skipped == []
    assert again.created == [] and again.skipped == []  # TTL already on is not asked again
    for lid, spec in table_specs(template).items():
        backups = client.describe_continuous_backups(TableName=names[lid])["ContinuousBackupsDescription"]
        pitr = backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
        ttl = client.describe_time_to_live(TableName=names[lid])["TimeToLiveDescription"]
        assert pitr == ("ENABLED" if spec.point_in_time_recovery else "DISABLED")
        assert (ttl["TimeToLiveStatus"] == "ENABLED") is (spec.ttl_attribute is not None)
        if spec.ttl_attribute:
            assert ttl["AttributeName"] == spec.ttl_attribute
