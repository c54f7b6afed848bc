"""The dashboard page, `GET /admin`: public HTML that asks for the admin token and calls the API."""

from __future__ import annotations

import pathlib

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from roamsync.dashboard import load_dashboard

DASHBOARD_HTML = pathlib.Path(__file__).resolve().parent.parent / "dashboard.html"

router = Router()


@router.get(
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
