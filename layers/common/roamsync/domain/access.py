"""Which bearer token a route needs. One rule, used by the authorizer in AWS and in the local stack."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    CLIENT = "client"


# Path prefixes (API Gateway resource paths) each role may call. The admin token is never accepted
# on client routes and the client token never on admin routes.
ROLE_ROUTES: dict[Role, tuple[str, ...]] = {
    Role.ADMIN: ("/api/admin/*",),
    Role.CLIENT: ("/api/checkout/*", "/api/orders", "/api/orders/*"),
}


def required_role(path: str) -> Role | None:
    """The role a request path needs, or None for a route that takes no token (the dashboard page)."""
    if path.startswith("/api/admin/"):
        return Role.ADMIN
    if path.startswith("/api/checkout/") or path == "/api/orders" or path.startswith("/api/orders/"):
        return Role.CLIENT
    return None
