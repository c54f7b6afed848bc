"""The one settings model. Nothing else in roamsync reads the environment."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ROAMIFY_BASE_URL = "https://api.getroamify.com"


class Settings(BaseSettings):
    """Configuration read from environment variables (names are the field names, upper-cased)."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    packages_table: str = "Packages"
    my_packages_table: str = "MyPackages"
    validation_cache_table: str = "ValidationCache"
    runs_table: str = "Runs"
    orders_table: str = "Orders"

    roamify_base_url: str = DEFAULT_ROAMIFY_BASE_URL
    roamify_api_key: SecretStr | None = None
    roamify_api_key_secret: str | None = None
    roamify_page_size: int = Field(default=50, ge=1, le=1000)
    roamify_connect_timeout_seconds: float = Field(default=3.05, gt=0)
    roamify_read_timeout_seconds: float = Field(default=10.0, gt=0)
    roamify_max_attempts: int = Field(default=4, ge=1, le=10)
    roamify_backoff_base_seconds: float = Field(default=0.25, ge=0)
    roamify_backoff_cap_seconds: float = Field(default=8.0, ge=0)
    # Catalog pages (and the sync's one-package lookups) read at a time.
    roamify_page_concurrency: int = Field(default=4, ge=1, le=32)

    admin_token: SecretStr | None = None
    admin_token_secret: str | None = None
    client_token: SecretStr | None = None
    client_token_secret: str | None = None

    validation_cache_ttl_seconds: int = Field(default=3600, ge=0)
    sync_max_deactivation_ratio: float = Field(default=0.2, ge=0, le=1)
    # Packages a sync looks up on their own to confirm they are gone; past it they stay active.
    sync_max_confirmations: int = Field(default=5000, ge=0)
    fallback_max_price_increase: float = Field(default=0.10, ge=0)

    # The function the sync API hands its work to (itself, in AWS); set by the template.
    sync_function_name: str | None = None
    schedule_rule_name: str | None = None

    aws_region: str | None = None
    aws_default_region: str | None = None
    aws_endpoint_url: str | None = None
    aws_endpoint_url_dynamodb: str | None = None
    aws_endpoint_url_lambda: str | None = None
    aws_endpoint_url_events: str | None = None

    # Bounded retries for UnprocessedItems on BatchWriteItem before the run fails loudly.
    dynamodb_batch_max_attempts: int = Field(default=8, ge=1, le=20)
    dynamodb_batch_base_backoff_ms: int = Field(default=25, ge=0)

    # Order placement. Upstream creations per request, fallbacks included: the time budget bounds
    # them; this cap only bounds the size of the order record.
    order_max_quantity: int = Field(default=10, ge=1, le=1000)
    order_max_attempts: int = Field(default=10, ge=1, le=20)
    # The order path's own Roamify timeouts and retries, small enough that create + lookup + a
    # package check fit in `order_time_budget_seconds`, itself well inside API Gateway's 29 s.
    order_create_timeout_seconds: float = Field(default=8.0, gt=0)
    order_lookup_timeout_seconds: float = Field(default=2.5, gt=0)
    order_lookup_max_attempts: int = Field(default=2, ge=1, le=5)
    order_time_budget_seconds: float = Field(default=25.0, gt=0, le=28)
    order_deadline_margin_seconds: float = Field(default=1.5, ge=0)
    # After a timeout, a lookup that finds nothing proves nothing until this long has passed.
    order_unknown_grace_seconds: float = Field(default=120.0, ge=0)
    # After Roamify's own 500 for a package it still lists, lookups keep looking this long before
    # "not found" lets the order be sent again: a commit may take that long to become visible.
    order_commit_visibility_seconds: float = Field(default=3.0, ge=0, le=20)
    # Consecutive upstream failures that open the breaker: high enough that 20% of calls failing at
    # random (0.2^10 = 1e-7) does not open it, low enough that a Roamify that is down does.
    order_breaker_failure_threshold: int = Field(default=10, ge=1)
    order_breaker_cooldown_seconds: float = Field(default=30.0, gt=0)
    # JSON {"Europe": ["esim-…", …]}: replaces the built-in region fallbacks region by region.
    order_region_fallbacks: str | None = None

    @property
    def region(self) -> str:
        return self.aws_region or self.aws_default_region or "us-east-1"

    @property
    def dynamodb_endpoint(self) -> str | None:
        return self.aws_endpoint_url_dynamodb or self.aws_endpoint_url

    @property
    def lambda_endpoint(self) -> str | None:
        return self.aws_endpoint_url_lambda or self.aws_endpoint_url

    @property
    def events_endpoint(self) -> str | None:
        return self.aws_endpoint_url_events or self.aws_endpoint_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Parse the environment once per process; `reset_settings()` drops the cached copy (tests, CLI)."""
    return Settings()


def reset_settings() -> None:
    get_settings.cache_clear()
