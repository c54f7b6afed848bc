"""Lambda REQUEST authorizer for the admin and client bearer tokens.

Missing or malformed `Authorization` → 401 (raising "Unauthorized" is how API Gateway says it).
A known token → an Allow policy for that token's routes only, so a cached decision never lets the
admin token through on a client route or the reverse → anything else is denied (403). Tokens are
compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
from typing import Any

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
    HttpVerb,
)

from roamsync.adapters.secrets import resolve_secret
from roamsync.domain.access import ROLE_ROUTES, Role
from roamsync.observability import get_logger, lambda_entrypoint
from roamsync.settings import Settings, get_settings

BEARER = "bearer "


def bearer_token(headers: dict[str, str] | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (any header case), else None."""
    for name, value in (headers or {}).items():
        if (
            name.lower() == "authorization"
            and isinstance(value, str)
            and value[: len(BEARER)].lower() == BEARER
        ):
            token = value[len(BEARER) :].strip()
            return token or None
    return None


def role_of(token: str, settings: Settings) -> Role | None:
    admin = resolve_secret(settings.admin_token, settings.admin_token_secret, what="the admin token")
    client = resolve_secret(settings.client_token, settings.client_token_secret, what="the client token")
    # Both comparisons always run, in constant time, so timing says nothing about which matched.
    is_admin = hmac.compare_digest(token.encode(), admin.encode())
    is_client = hmac.compare_digest(token.encode(), client.encode())
    if is_admin:
        return Role.ADMIN
    if is_client:
        return Role.CLIENT
    return None


def authorize(event: dict[str, Any], settings: Settings) -> dict[str, Any]:
    request = APIGatewayAuthorizerRequestEvent(event)
    token = bearer_token(request.headers)
    if token is None:
        raise PermissionError("Unauthorized")  # API Gateway maps this to 401
    arn = request.parsed_arn
    role = role_of(token, settings)
    policy = APIGatewayAuthorizerResponse(
        principal_id=role.value if role else "anonymous",
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context={"role": role.value if role else ""},
    )
    if role is None:
        get_logger().info("bearer token refused", extra={"path": request.path})
        policy.deny_all_routes()
    else:
        for route in ROLE_ROUTES[role]:
            policy.allow_route(http_method=HttpVerb.ALL.value, resource=route)
    return policy.asdict()


@lambda_entrypoint()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return authorize(event, get_settings())
    except PermissionError:
        raise Exception("Unauthorized") from None  # the exact text API Gateway expects
