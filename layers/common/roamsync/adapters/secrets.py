"""Secrets: a value given directly (local stack, tests) or read from Secrets Manager (AWS)."""

from __future__ import annotations

from pydantic import SecretStr

from roamsync.domain.errors import RoamsyncError

# Cached for five minutes per container: a rotated token is picked up without a redeploy.
SECRET_MAX_AGE_SECONDS = 300


class MissingSecret(RoamsyncError):
    """Neither the value nor the name of the secret holding it is configured."""


def resolve_secret(value: SecretStr | None, secret_name: str | None, *, what: str) -> str:
    """The secret's value: `value` when set, else Secrets Manager's `secret_name` (cached)."""
    if value is not None and value.get_secret_value():
        return value.get_secret_value()
    if secret_name:
        from aws_lambda_powertools.utilities import parameters

        secret = parameters.get_secret(secret_name, max_age=SECRET_MAX_AGE_SECONDS)
        return secret if isinstance(secret, str) else secret.decode()
    raise MissingSecret(f"{what} is not configured (set it or the name of its secret)")
