"""Keeping the mappings sound: validate (and auto-fix), the invalid rows, dedupe, and undo of a run."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from admin_routes.models import Cursor, DedupeRequest, Identifier, Limit, ValidateRequest
from roamsync import self_healing
from roamsync.container import get_container
from roamsync.domain.runs import Trigger
from roamsync.http import json_response

router = Router()


@router.post("/api/admin/packages/validate", summary="Validate every mapping (and auto-fix)")
def validate(body: Annotated[ValidateRequest | None, Body()] = None) -> Response[str]:
    request = body or ValidateRequest()
    outcome = self_healing.validate(get_container(), Trigger.API, fix=request.fix, dry_run=request.dryRun)
    self_healing.publish_validation(outcome)
    return json_response(200, outcome.body())


@router.get("/api/admin/packages/invalid", summary="Invalid mappings with suggested replacements")
def invalid(limit: Limit = 50, cursor: Cursor = None) -> Response[str]:
    return json_response(200, self_healing.invalid_page(get_container(), limit=limit, cursor=cursor))


@router.post("/api/admin/packages/deduplicate-my-packages", summary="Remove duplicate packages of the shop's")
def deduplicate(body: Annotated[DedupeRequest | None, Body()] = None) -> Response[str]:
    request = body or DedupeRequest()
    outcome = self_healing.dedupe(get_container(), Trigger.API, dry_run=request.dryRun)
    self_healing.publish_dedupe(outcome)
    return json_response(200, outcome.body())


@router.post("/api/admin/packages/runs/<run_id>/undo", summary="Undo an auto-fix or dedupe run")
def undo(run_id: Annotated[Identifier, Path()]) -> Response[str]:
    outcome = self_healing.undo(get_container(), run_id, Trigger.API)
    self_healing.publish_undo(outcome)
    return json_response(200, outcome.body())
