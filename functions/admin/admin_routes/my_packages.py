"""The shop's own packages: list, create, read, change and delete rows of MyPackages."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from admin_routes.models import CountryCode, Cursor, Identifier, Limit, MyPackageBody
from roamsync.container import get_container
from roamsync.domain.errors import BadRequest
from roamsync.http import json_response
from roamsync.services.my_packages import (
    create_my_package,
    delete_my_package,
    get_my_package,
    list_my_packages,
    my_package_json,
    update_my_package,
)

router = Router()


@router.get("/api/admin/my-packages", summary="List the shop's packages")
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


@router.post(
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


@router.get("/api/admin/my-packages/<my_package_id>", summary="One package of the shop's")
def get_row(my_package_id: Annotated[Identifier, Path()]) -> Response[str]:
    row = get_my_package(my_package_id, my_packages=get_container().my_packages)
    return json_response(200, my_package_json(row))


@router.patch("/api/admin/my-packages/<my_package_id>", summary="Change a package of the shop's")
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


@router.delete("/api/admin/my-packages/<my_package_id>", summary="Delete a package of the shop's")
def delete_row(my_package_id: Annotated[Identifier, Path()]) -> Response[str]:
    row = delete_my_package(my_package_id, my_packages=get_container().my_packages)
    return json_response(200, my_package_json(row))
