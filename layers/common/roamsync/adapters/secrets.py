"""Secrets: a value given directly (local stack, tests) or read from Secrets Manager (AWS)."""

from __future__ import annotations

from pydantic import SecretStr

from roamsync.domain.errors import RoamsyncError

# Cached for five minutes per container: a rotated token is picked up without a redeploy.
SECRET_MAX_AGE_SECONDS = 300
# What a caller is told to wait when Secrets Manager cannot be read: its outages are short, and the
# SDK has already retried.
SECRET_RETRY_AFTER_SECONDS = 5


class MissingSecret(RoamsyncError):
    """Neither the value nor the name of the secret holding it is configured."""


class SecretUnavailable(RoamsyncError):
    """Secrets Manager could not give the secret now (unreachable, throttled, its own error, or the
    secret missing): a passing state a caller may retry, answered 503 with Retry-After."""

    retry_after_seconds = SECRET_RETRY_AFTER_SECONDS


def resolve_secret(
    value: SecretStr | None, secret_name: str | None, *, what: str, fresh: bool = False
) -> str:
    """The secret's value: `value` when set, else Secrets Manager's `secret_name` (cached; `fresh`
    reads it again, as after a rotation). Raises MissingSecret when neither is configured and
    SecretUnavailable when Secrets Manager fails."""
    if value is not None and value.get_secret_value():
        return value.get_secret_value()
    if secret_name:
        from aws_lambda_powertools.utilities import parameters
        from aws_lambda_powertools.utilities.parameters.exceptions import (
            GetParameterError,
            TransformParameterError,
        )
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            secret = parameters.get_secret(secret_name, max_age=SECRET_MAX_AGE_SECONDS, force_fetch=fresh)
        except (GetParameterError, TransformParameterError, BotoCoreError, ClientError) as exc:
            # Powertools wraps the SDK's error; its type is what an operator needs (never the value).
            cause = exc.__cause__ or exc.__context__ or exc
            raise SecretUnavailable(
                f"{what} could not be read from Secrets Manager ({type(cause).__name__})"
            ) from None
        return secret if isinstance(secret, str) else secret.decode()
    raise MissingSecret(f"{what} is not configured (set it or the name of its secret)")
