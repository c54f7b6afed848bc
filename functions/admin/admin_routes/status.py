"""What an operator reads: the health over every mapping, and the sync status."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from admin_routes.models import HealthReport, SyncStatus
from roamsync import self_healing
from roamsync.container import get_container
from roamsync.http import json_response

router = Router()


@router.get(
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


@router.get(
    "/api/admin/packages/sync-status",
    summary="The last sync and validation runs, the nightly schedule, Roamify's reachability",
    responses={
        200: {"description": "the sync status", "content": {"application/json": {"model": SyncStatus}}}
    },
)
def sync_status() -> Response[str]:
    body = self_healing.sync_status(get_container())
    return json_response(200, SyncStatus.model_validate(body).model_dump())
