"""pynamodb models of the five tables. template.yaml declares the tables; a test proves these match.

Table names, region and endpoint come from Settings through `bind_models`, called once per process
(and again by tests that switch tables). The endpoint honours AWS_ENDPOINT_URL_DYNAMODB /
AWS_ENDPOINT_URL so the local stack and the tests reach moto with the same code as in AWS.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pynamodb.attributes import (
    Attribute,
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.constants import NUMBER
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from roamsync.settings import Settings


class DecimalAttribute(Attribute[Decimal]):
    """A DynamoDB number kept exact (prices): pynamodb's NumberAttribute goes through float."""

    attr_type = NUMBER

    def serialize(self, value: Decimal) -> str:
        return format(value, "f")

    def deserialize(self, value: str) -> Decimal:
        return Decimal(value)


class _CountryIndex(GlobalSecondaryIndex["PackageItem"]):
    class Meta:
        index_name = "country_index"
        projection = AllProjection()

    country_code = UnicodeAttribute(hash_key=True)


class _SpanningRegionIndex(GlobalSecondaryIndex["PackageItem"]):
    """Sparse: only packages that cover more than their own country carry `spanning_region`."""

    class Meta:
        index_name = "spanning_region_index"
        projection = AllProjection()

    spanning_region = UnicodeAttribute(hash_key=True)


class PackageItem(Model):
    class Meta:
        table_name = "Packages"

    reseller_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute()
    name = UnicodeAttribute()
    country_code = UnicodeAttribute()
    country_name = UnicodeAttribute()
    region = UnicodeAttribute()
    # `region`, on packages that cover more than their own country only (see the index)
    spanning_region = UnicodeAttribute(null=True)
    geography = UnicodeAttribute()
    coverage = ListAttribute(of=UnicodeAttribute, default=list)
    data_mb = NumberAttribute(null=True)
    unlimited = BooleanAttribute()
    validity_days = NumberAttribute()
    price = DecimalAttribute()
    currency = UnicodeAttribute()
    with_sms = BooleanAttribute()
    with_call = BooleanAttribute()
    with_hotspot = BooleanAttribute()
    throttled = BooleanAttribute()
    throttle_speed_kbps = NumberAttribute(null=True)
    throttle_threshold_mb = NumberAttribute(null=True)
    content_hash = UnicodeAttribute()
    status = UnicodeAttribute()
    first_seen_at = UTCDateTimeAttribute(null=True)
    last_seen_at = UTCDateTimeAttribute(null=True)
    deactivated_at = UTCDateTimeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)

    country_index = _CountryIndex()
    spanning_region_index = _SpanningRegionIndex()


class _ResellerIdIndex(GlobalSecondaryIndex["MyPackageItem"]):
    class Meta:
        index_name = "reseller_id_index"
        projection = AllProjection()

    reseller_id = UnicodeAttribute(hash_key=True)


class MyPackageItem(Model):
    class Meta:
        table_name = "MyPackages"

    id = UnicodeAttribute(hash_key=True)
    reseller_id = UnicodeAttribute(null=True)
    name = UnicodeAttribute()
    country_code = UnicodeAttribute(null=True)
    country_name = UnicodeAttribute(null=True)
    region = UnicodeAttribute(null=True)
    data_mb = NumberAttribute(null=True)
    unlimited = BooleanAttribute(default=False)
    validity_days = NumberAttribute(null=True)
    base_price = DecimalAttribute(null=True)
    sale_price = DecimalAttribute(null=True)
    currency = UnicodeAttribute(default="USD")
    visible = BooleanAttribute(default=True)
    created_at = UTCDateTimeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
    validation_status = UnicodeAttribute(null=True)
    validation_reason = UnicodeAttribute(null=True)
    validated_at = UTCDateTimeAttribute(null=True)

    reseller_id_index = _ResellerIdIndex()


class ValidationCacheItem(Model):
    class Meta:
        table_name = "ValidationCache"

    cache_key = UnicodeAttribute(hash_key=True)
    expires_at = NumberAttribute()
    result = JSONAttribute(null=True)


class _KindIndex(GlobalSecondaryIndex["RunItem"]):
    class Meta:
        index_name = "kind_index"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    started_at = UnicodeAttribute(range_key=True)


class RunItem(Model):
    class Meta:
        table_name = "Runs"

    run_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    # ISO 8601 string so the kind index sorts runs by start time.
    started_at = UnicodeAttribute()
    # Kept beside the JSON record so a conditional write can claim a pending run exactly once.
    status = UnicodeAttribute(null=True)
    record = JSONAttribute()
    # Lock items only (see adapters.dynamo.SyncLockItem): who holds the lock and until when (epoch s).
    holder = UnicodeAttribute(null=True)
    lease_expires = NumberAttribute(null=True)

    kind_index = _KindIndex()


class OrderItem(Model):
    class Meta:
        table_name = "Orders"

    order_id = UnicodeAttribute(hash_key=True)
    record = JSONAttribute()
    # Beside the JSON record so conditional writes and a glance at the table can use them.
    status = UnicodeAttribute(null=True)
    request_hash = UnicodeAttribute(null=True)
    # Optimistic locking: every save is conditional on the version it read.
    version = NumberAttribute(null=True)


ALL_MODELS: dict[str, type[Model]] = {
    "packages_table": PackageItem,
    "my_packages_table": MyPackageItem,
    "validation_cache_table": ValidationCacheItem,
    "runs_table": RunItem,
    "orders_table": OrderItem,
}

_bound_to: tuple[Any, ...] | None = None


def bind_models(settings: Settings) -> None:
    """Point every model at the configured tables, region and endpoint (idempotent)."""
    global _bound_to  # noqa: PLW0603 - one binding per process, switched only by tests and the CLI
    key = (
        *(getattr(settings, name) for name in ALL_MODELS),
        settings.region,
        settings.dynamodb_endpoint,
        settings.dynamodb_batch_max_attempts,
    )
    if key == _bound_to:
        return
    for setting_name, model in ALL_MODELS.items():
        meta: Any = model.Meta
        meta.table_name = getattr(settings, setting_name)
        meta.region = settings.region
        meta.host = settings.dynamodb_endpoint
        # SDK-level retries of throttled calls; few, so a broken request fails fast.
        meta.max_retry_attempts = 3
        # Each attempt bounded (pynamodb's defaults are 15 s + 30 s): every call, all attempts
        # included, ends well within what a sync's lock lease has left when it sends (2.5 minutes).
        meta.connect_timeout_seconds = 3
        meta.read_timeout_seconds = 20
        model._connection = None
    _bound_to = key
