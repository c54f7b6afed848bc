"""Admin function: the shop's own packages, mapping validation, dedupe and undo (admin token).

    GET    /api/admin/my-packages                          list (countryCode, status, limit, cursor)
    POST   /api/admin/my-packages                          create (from a resellerId, or a draft)
    GET    /api/admin/my-packages/{id}                     one row
    PATCH  /api/admin/my-packages/{id}                     change some fields
    DELETE /api/admin/my-packages/{id}                     delete, answering the row as it was
    POST   /api/admin/packages/validate                    validate every row; {"fix", "dryRun"}
    GET    /api/admin/packages/invalid                     invalid rows with suggestions (limit, cursor)
    POST   /api/admin/packages/deduplicate-my-packages     dedupe; {"dryRun"}
    POST   /api/admin/packages/runs/{runId}/undo           undo an auto-fix or dedupe run
    GET    /api/admin/packages/health                      health score over every row, catalog counts
    GET    /api/admin/packages/sync-status                 last runs, schedule, Roamify reachability
    GET    /admin                                          the dashboard page (public: it asks for the token)

Bad input is a 400 in the error shape with nothing written; an unknown id a 404; a row changed
between read and write a 409. Validation runs in the request: the nightly run (SyncFunction, 900 s)
is what covers a table too large for API Gateway's 29 seconds.
"""

from __future__ import annotations

import pathlib
from decimal import Decimal
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from roamsync import self_healing
from roamsync.container import get_container
from roamsync.dashboard import load_dashboard
from roamsync.domain.errors import BadRequest
from roamsync.domain.runs import Trigger
from roamsync.http import json_response, new_resolver
from roamsync.observability import lambda_entrypoint
from roamsync.services.my_packages import (
    MyPackageInput,
    create_my_package,
    delete_my_package,
    get_my_package,
    list_my_packages,
    my_package_json,
    update_my_package,
)

app = new_resolver()

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


# The answers of health and sync-status: each reply is validated against these before it is sent, so
# the OpenAPI document generated from them is what the API really answers.


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


# ---- my packages ---------------------------------------------------------------------------------


@app.get("/api/admin/my-packages", summary="List the shop's packages")
def list_rows(
    limit: Limit = 50,
    cursor: Cursor = None,
    countryCode: Annotated[CountryCode | None, Query()] = None,
    status: Annotated[Literal["valid", "invalid", "unvalidated"] | None, Query()] = None,
) -> Response[str]:
    page = list_my_packages(
        my_packages=get_container().my_packages,
        limit=limit,
        cursor=cursor,
        country_code=countryCode,
        status=status,
    )
    return json_response(200, page)


@app.post(
    "/api/admin/my-packages",
    summary="Create a package of the shop's",
    responses={
        201: {},
        404: {"description": "resellerId is not in the catalog (send draft to map it anyway)"},
    },
)
def create_row(body: Annotated[MyPackageBody, Body()]) -> Response[str]:
    container = get_container()
    row = create_my_package(
        body.to_input(),
        draft=body.draft,
        my_packages=container.my_packages,
        packages=container.packages,
        clock=container.clock,
    )
    return json_response(201, my_package_json(row))


@app.get("/api/admin/my-packages/<my_package_id>", summary="One package of the shop's")
def get_row(my_package_id: Annotated[Identifier, Path()]) -> Response[str]:
    row = get_my_package(my_package_id, my_packages=get_container().my_packages)
    return json_response(200, my_package_json(row))


@app.patch("/api/admin/my-packages/<my_package_id>", summary="Change a package of the shop's")
def patch_row(
    my_package_id: Annotated[Identifier, Path()], body: Annotated[MyPackageBody, Body()]
) -> Response[str]:
    nulls = sorted(name for name in body.model_fields_set if getattr(body, name) is None)
    if nulls:
        raise BadRequest(f"{', '.join(nulls)} cannot be null")
    container = get_container()
    row = update_my_package(
        my_package_id,
        body.to_input(),
        draft=body.draft,
        my_packages=container.my_packages,
        packages=container.packages,
        clock=container.clock,
    )
    return json_response(200, my_package_json(row))


@app.delete("/api/admin/my-packages/<my_package_id>", summary="Delete a package of the shop's")
def delete_row(my_package_id: Annotated[Identifier, Path()]) -> Response[str]:
    row = delete_my_package(my_package_id, my_packages=get_container().my_packages)
    return json_response(200, my_package_json(row))


# ---- validation, dedupe, undo --------------------------------------------------------------------


@app.post("/api/admin/packages/validate", summary="Validate every mapping (and auto-fix)")
def validate(body: Annotated[ValidateRequest | None, Body()] = None) -> Response[str]:
    request = body or ValidateRequest()
    outcome = self_healing.validate(get_container(), Trigger.API, fix=request.fix, dry_run=request.dryRun)
    self_healing.publish_validation(outcome)
    return json_response(200, outcome.body())


@app.get("/api/admin/packages/invalid", summary="Invalid mappings with suggested replacements")
def invalid(limit: Limit = 50, cursor: Cursor = None) -> Response[str]:
    return json_response(200, self_healing.invalid_page(get_container(), limit=limit, cursor=cursor))


@app.post("/api/admin/packages/deduplicate-my-packages", summary="Remove duplicate packages of the shop's")
def deduplicate(body: Annotated[DedupeRequest | None, Body()] = None) -> Response[str]:
    request = body or DedupeRequest()
    outcome = self_healing.dedupe(get_container(), Trigger.API, dry_run=request.dryRun)
    self_healing.publish_dedupe(outcome)
    return json_response(200, outcome.body())


@app.post("/api/admin/packages/runs/<run_id>/undo", summary="Undo an auto-fix or dedupe run")
def undo(run_id: Annotated[Identifier, Path()]) -> Response[str]:
    outcome = self_healing.undo(get_container(), run_id, Trigger.API)
    self_healing.publish_undo(outcome)
    return json_response(200, outcome.body())


# ---- health and status ---------------------------------------------------------------------------


@app.get(
    "/api/admin/packages/health",
    summary="Health over every mapping, and the catalog's active / inactive counts",
    responses={
        200: {"description": "the health report", "content": {"application/json": {"model": HealthReport}}}
    },
)
def health() -> Response[str]:
    body = self_healing.health(get_container())
    self_healing.publish_health(body)
    return json_response(200, HealthReport.model_validate(body).model_dump())


@app.get(
    "/api/admin/packages/sync-status",
    summary="The last sync and validation runs, the nightly schedule, Roamify's reachability",
    responses={
        200: {"description": "the sync status", "content": {"application/json": {"model": SyncStatus}}}
    },
)
def sync_status() -> Response[str]:
    body = self_healing.sync_status(get_container())
    return json_response(200, SyncStatus.model_validate(body).model_dump())


# ---- the dashboard page --------------------------------------------------------------------------

DASHBOARD_HTML = pathlib.Path(__file__).with_name("dashboard.html")


@app.get(
    "/admin",
    summary="The admin dashboard page",
    description="Public HTML (no data in it); the page asks for the admin token and calls this API with it.",
    responses={200: {"description": "the page", "content": {"text/html": {"schema": {"type": "string"}}}}},
)
def dashboard() -> Response[str]:
    page = load_dashboard(DASHBOARD_HTML)  # read once per container
    return Response(
        status_code=200, content_type="text/html; charset=utf-8", body=page.html, headers=page.headers
    )


@lambda_entrypoint(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
