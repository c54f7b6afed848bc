"""A route's Lambda authorizer run with API Gateway's rules, and its per-identity decision cache."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Response

from roamsync_dev import lambda_runtime
from roamsync_dev.gateway.iam import evaluate_policy, method_arn
from roamsync_dev.gateway.proxy import Invocation, proxy_event
from roamsync_dev.gateway.responses import gateway_response
from roamsync_dev.template import ApiRoute, ApiSpec, AuthorizerSpec, FunctionSpec

log = logging.getLogger("roamsync_dev.gateway")

# The text a Lambda authorizer raises to make API Gateway answer 401.
UNAUTHORIZED_MESSAGE = "Unauthorized"


@dataclass
class _CachedDecision:
    expires_at: float
    policy: dict[str, Any]


class Authorizer:
    """Decides whether a request may reach a route's integration, as API Gateway's authorizer step does."""

    def __init__(
        self,
        template: Mapping[str, Any],
        apis: Mapping[str, ApiSpec],
        functions: Mapping[str, FunctionSpec],
        *,
        cache: bool = True,
    ) -> None:
        self.template = template
        self.apis = apis
        self.functions = functions
        self._authorizer_cache_enabled = cache
        self._decisions: dict[tuple[str, tuple[str, ...]], _CachedDecision] = {}
        self._decisions_lock = threading.Lock()

    def authorize(  # noqa: PLR0911 - one exit per API Gateway outcome
        self, route: ApiRoute, call: Invocation, request_id: str
    ) -> tuple[Response | None, str, dict[str, Any]]:
        """(a refusal response, or None with the principal and context to pass on)."""
        spec = self.apis.get(route.api)
        authorizer = spec.authorizers.get(route.authorizer or "") if spec else None
        if authorizer is None or authorizer.function not in self.functions:
            log.error(
                "route %s %s names authorizer %s, which cannot run locally",
                route.method,
                route.path,
                route.authorizer,
            )
            return self._gateway_response("AUTHORIZER_CONFIGURATION_ERROR", request_id, route.api), "", {}

        identity = self._identity(authorizer, call)
        if identity is None:
            # API Gateway's identity-source rule: no token, no authorizer call, 401.
            return self._gateway_response("UNAUTHORIZED", request_id, route.api), "", {}

        arn = method_arn(call.method, call.path)
        policy = self._cached_policy(authorizer, identity)
        if policy is None:
            try:
                result = lambda_runtime.invoke(
                    authorizer.function, self._authorizer_event(authorizer, call, arn), self.template
                )
            except Exception as exc:
                if str(exc) == UNAUTHORIZED_MESSAGE:
                    return self._gateway_response("UNAUTHORIZED", request_id, route.api), "", {}
                log.exception("authorizer %s raised", authorizer.function)
                return self._gateway_response("AUTHORIZER_FAILURE", request_id, route.api), "", {}
            problem = _policy_problem(result)
            if problem:
                log.error("authorizer %s returned an invalid policy: %s", authorizer.function, problem)
                return self._gateway_response("AUTHORIZER_CONFIGURATION_ERROR", request_id, route.api), "", {}
            policy = result
            self._remember_policy(authorizer, identity, policy)

        if evaluate_policy(policy["policyDocument"], arn) != "allow":
            return self._gateway_response("ACCESS_DENIED", request_id, route.api), "", {}
        context = {k: _context_value(v) for k, v in (policy.get("context") or {}).items()}
        return None, str(policy["principalId"]), context

    @staticmethod
    def _identity(authorizer: AuthorizerSpec, call: Invocation) -> tuple[str, ...] | None:
        lowered = {name.lower(): value for name, value in call.headers.items()}
        values: list[str] = []
        for header in authorizer.identity_headers:
            value = lowered.get(header.lower(), "")
            if not value.strip():
                return None
            values.append(value)
        for name in authorizer.identity_query_strings:
            value = (call.query or {}).get(name, "")
            if not value.strip():
                return None
            values.append(value)
        return tuple(values)

    def _authorizer_event(self, authorizer: AuthorizerSpec, call: Invocation, arn: str) -> dict[str, Any]:
        if authorizer.payload_type == "TOKEN":
            lowered = {name.lower(): value for name, value in call.headers.items()}
            token = lowered.get(authorizer.identity_headers[0].lower(), "")
            return {"type": "TOKEN", "authorizationToken": token, "methodArn": arn}
        event = proxy_event(call)
        return {
            "type": "REQUEST",
            "methodArn": arn,
            "resource": event["resource"],
            "path": event["path"],
            "httpMethod": event["httpMethod"],
            "headers": event["headers"],
            "multiValueHeaders": event["multiValueHeaders"],
            "queryStringParameters": event["queryStringParameters"],
            "multiValueQueryStringParameters": event["multiValueQueryStringParameters"],
            "pathParameters": event["pathParameters"],
            "stageVariables": event["stageVariables"],
            "requestContext": event["requestContext"],
        }

    def _cached_policy(self, authorizer: AuthorizerSpec, identity: tuple[str, ...]) -> dict[str, Any] | None:
        if not self._authorizer_cache_enabled or authorizer.reauthorize_every <= 0:
            return None
        with self._decisions_lock:
            cached = self._decisions.get((authorizer.name, identity))
            if cached is None or cached.expires_at <= time.monotonic():
                return None
            return cached.policy

    def _remember_policy(
        self, authorizer: AuthorizerSpec, identity: tuple[str, ...], policy: dict[str, Any]
    ) -> None:
        if not self._authorizer_cache_enabled or authorizer.reauthorize_every <= 0:
            return
        with self._decisions_lock:
            expires = time.monotonic() + authorizer.reauthorize_every
            self._decisions[(authorizer.name, identity)] = _CachedDecision(expires, policy)

    def clear_cache(self) -> None:
        with self._decisions_lock:
            self._decisions.clear()

    def _gateway_response(self, response_type: str, request_id: str, api: str | None) -> Response:
        return gateway_response(self.apis, response_type, request_id, api)


def _context_value(value: Any) -> str:
    # API Gateway passes authorizer context values on to REST integrations as strings.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _policy_problem(result: Any) -> str | None:
    if not isinstance(result, dict):
        return f"expected a dict, got {type(result).__name__}"
    if "principalId" not in result:
        return "no principalId"
    document = result.get("policyDocument")
    if not isinstance(document, dict) or not isinstance(document.get("Statement"), list | dict):
        return "no policyDocument.Statement"
    context = result.get("context") or {}
    if not isinstance(context, dict):
        return "context is not an object"
    nested = [k for k, v in context.items() if not isinstance(v, str | int | float | bool)]
    if nested:
        return f"context values must be strings, numbers or booleans ({', '.join(nested)})"
    return None
