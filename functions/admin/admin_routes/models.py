"""The admin API's request and response models and the parameter types its routes share.

Requests are strict and refuse unknown fields (a 400 in the error shape); the answers of health and
sync-status are validated against their models before they are sent, so the OpenAPI document generated
from them is what the API really answers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from roamsync.services.my_packages import MyPackageInput

Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
CountryCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$")
]
Currency = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")]
# Prices arrive as JSON numbers or decimal strings; positive, cents at most, never a float's noise.
Money = Annotated[Decimal, Field(gt=0, max_digits=10, decimal_places=2, allow_inf_nan=False, strict=False)]
Limit = Annotated[int, Query(ge=1, le=100, description="rows per page, 1..100")]
Cursor = Annotated[str | None, Query(max_length=2048, description="nextCursor of the previous page")]


class MyPackageBody(BaseModel):
    """The fields of a row a caller may set. For a row mapped to a catalog package, data, unlimited,
    days and region come from the catalog and are refused here."""

    model_config = ConfigDict(extra="forbid", strict=True)

    resellerId: Identifier | None = Field(default=None, description="the Roamify packageId it maps to")
    name: Text | None = None
    salePrice: Money | None = Field(default=None, description="what the shop charges; > 0")
    basePrice: Money | None = Field(default=None, description="what Roamify charges; default: catalog price")
    currency: Currency | None = None
    visible: bool | None = None
    countryCode: CountryCode | None = Field(default=None, description="the country it is sold for")
    countryName: Text | None = None
    region: Text | None = None
    dataMb: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    unlimited: bool | None = None
    validityDays: Annotated[int, Field(ge=1, le=3650)] | None = None
    draft: bool = Field(default=False, description="allow a row mapped to nothing or to an unknown package")

    def to_input(self) -> MyPackageInput:
        return MyPackageInput(
            reseller_id=self.resellerId,
            name=self.name,
            sale_price=self.salePrice,
            base_price=self.basePrice,
            currency=self.currency,
            visible=self.visible,
            country_code=self.countryCode,
            country_name=self.countryName,
            region=self.region,
            data_mb=self.dataMb,
            unlimited=self.unlimited,
            validity_days=self.validityDays,
        )


class ValidateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    fix: bool = Field(default=False, description="auto-fix rows with an equivalent-or-better replacement")
    dryRun: bool = Field(default=False, description="compute everything and write nothing")


class DedupeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    dryRun: bool = Field(default=False, description="report what would be removed and remove nothing")


class CatalogCounts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: int = Field(description="packages Roamify listed in the last applied sync")
    inactive: int = Field(description="packages no longer listed upstream (deactivated, never deleted)")


class HealthReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    totalPackages: int = Field(description="every row of MyPackages")
    validPackages: int
    invalidPackages: int
    unvalidatedPackages: int = Field(description="rows never validated; they count against the score")
    healthScore: float | None = Field(
        description="valid rows in percent of every row, one decimal; null when there are no rows"
    )
    reason: str | None = Field(description="why healthScore is null; null otherwise")
    lastValidation: str | None = Field(description="when the last validation run finished (ISO 8601)")
    catalog: CatalogCounts


class RunRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runId: str
    kind: str
    status: str = Field(description="pending, running, succeeded, refused, partial, skipped or failed")
    trigger: str = Field(description="schedule, api or cli")
    dryRun: bool
    forced: bool
    startedAt: str
    finishedAt: str | None
    durationMs: int | None
    counts: dict[str, int] = Field(
        description="what the run did (for a sync: the packages it wrote, by kind)"
    )
    planned: dict[str, int] = Field(
        description="a sync's plan by kind; differs from counts when it was refused, failed or was a dry run"
    )
    timingsMs: dict[str, int]
    reason: str | None = Field(description="machine-readable refusal or failure code")
    error: str | None = Field(description="what went wrong, for an operator")


class ScheduleView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ruleName: str | None
    expression: str | None = Field(description="the EventBridge schedule expression, e.g. cron(0 2 * * ? *)")
    enabled: bool | None = Field(description="null when the rule could not be read (see error)")
    error: str | None


class SyncStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lastSync: RunRecord | None = Field(description="the newest sync, a pending or running one included")
    lastSuccessfulSync: RunRecord | None
    lastValidation: RunRecord | None
    schedule: ScheduleView
    roamifyApiHealthy: bool = Field(
        description="Roamify's GET /api/health answered 2xx within 2 s (cached 30 s)"
    )
    syncNeeded: bool = Field(
        description="no successful sync for 26 hours, or the newest sync failed, was refused or partial"
    )
    syncNeededReasons: list[str]
    checkedAt: str
