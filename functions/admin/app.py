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

Bad input is a 400 in the error shape with nothing written; an unknown id a 404; a row changed
between read and write a 409. Validation runs in the request: the nightly run (SyncFunction, 900 s)
is what covers a table too large for API Gateway's 29 seconds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from roamsync import self_healing
from roamsync.container import get_container
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


@app.post("/api/admin/my-packages", summary="Create a package of the shop's", responses={201: {}})
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


@lambda_entrypoint(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
