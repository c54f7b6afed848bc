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

The routes live in admin_routes, one Router per concern (the request and response models in
admin_routes.models); this module builds the resolver, includes them, and is the Lambda entry point.
"""

from __future__ import annotations

from typing import Any

from admin_routes import dashboard, maintenance, my_packages, status
from aws_lambda_powertools.logging import correlation_paths

from roamsync.http import new_resolver
from roamsync.observability import lambda_entrypoint

app = new_resolver()
# In this order the routes were declared, and so they appear in the OpenAPI document.
app.include_router(my_packages.router)
app.include_router(maintenance.router)
app.include_router(status.router)
app.include_router(dashboard.router)


@lambda_entrypoint(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
