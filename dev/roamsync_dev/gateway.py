"""A local API Gateway (REST, v1 proxy events) and Lambda Invoke API over template.yaml's functions.

Every `Type: Api` event of the template is served by calling its function's handler in-process with the
event API Gateway would build. Routes under an authorizer go through the same authorizer function,
with API Gateway's rules: a missing identity source is a 401 without calling it, "Unauthorized" raised
is a 401, the returned IAM policy is evaluated against the method ARN (explicit Deny wins, no match is
a 403), and a decision is cached per identity for the authorizer's ReauthorizeEvery, as in AWS.

`GET /docs` serves Swagger UI over `GET /openapi.json`, the committed document (roamsync_dev.api_docs).

`POST /2015-03-31/functions/<name>/invocations` emulates Lambda's Invoke, so handler code calling
boto3's `lambda.invoke` works unchanged when AWS_ENDPOINT_URL_LAMBDA points here. Asynchronous
(`Event`) invocations run on a small thread pool; Lambda's retries of failed async events are not emulated.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from werkzeug.wrappers import Request, Response

from roamsync.http import MAX_BODY_BYTES
from roamsync_dev import api_docs, lambda_runtime
from roamsync_dev.serving import RunningServer, serve_wsgi
from roamsync_dev.template import (
    LOCAL_ACCOUNT_ID,
    ApiRoute,
    ApiSpec,
    AuthorizerSpec,
    FunctionSpec,
    GatewayResponse,
    api_routes,
    apis,
    functions,
)

log = logging.getLogger("roamsync_dev.gateway")

STAGE = "local"
API_ID = "local"
EXECUTE_API_REGION = "local"
JSON = "application/json"
INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
# The text a Lambda authorizer raises to make API Gateway answer 401.
UNAUTHORIZED_MESSAGE = "Unauthorized"


def _error_body(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}})


# What API Gateway answers for a response type the template does not customise.
DEFAULT_GATEWAY_RESPONSES: dict[str, GatewayResponse] = {
    "UNAUTHORIZED": GatewayResponse(401, json.dumps({"message": "Unauthorized"})),
    "ACCESS_DENIED": GatewayResponse(
        403, json.dumps({"Message": "User is not authorized to access this resource with an explicit deny"})
    ),
    "AUTHORIZER_FAILURE": GatewayResponse(500, _error_body("authorizer_failure", "the authorizer failed")),
    "AUTHORIZER_CONFIGURATION_ERROR": GatewayResponse(
        500, _error_body("authorizer_configuration_error", "the authorizer returned an invalid response")
    ),
    "INTEGRATION_FAILURE": GatewayResponse(502, _error_body("internal_error", "Internal server error")),
}
_ERROR_TYPES = {
    "UNAUTHORIZED": "UnauthorizedException",
    "ACCESS_DENIED": "AccessDeniedException",
    "AUTHORIZER_FAILURE": "AuthorizerFailureException",
    "AUTHORIZER_CONFIGURATION_ERROR": "AuthorizerConfigurationException",
    "INTEGRATION_FAILURE": "InternalServerErrorException",
}


# ---- IAM policy evaluation -----------------------------------------------------------------------


def iam_pattern_matches(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """IAM wildcard matching: `*` is any run of characters (`/` included), `?` exactly one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = re.DOTALL | (0 if case_sensitive else re.IGNORECASE)
    return re.fullmatch(regex, value, flags) is not None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


Decision = Literal["allow", "deny", "implicit_deny"]


def evaluate_policy(policy_document: Mapping[str, Any], method_arn: str) -> Decision:
    """API Gateway's verdict on an authorizer policy for one method ARN.

    An explicit Deny matching the ARN wins; otherwise a matching Allow allows; otherwise it is denied.
    Conditions are not evaluated (none of roamsync's policies use them).
    """
    allowed = False
    for statement in _as_list(policy_document.get("Statement")):
        if not isinstance(statement, dict):
            continue
        actions = [str(a) for a in _as_list(statement.get("Action"))]
        if not any(iam_pattern_matches(a, "execute-api:Invoke", case_sensitive=False) for a in actions):
            continue
        resources = [str(r) for r in _as_list(statement.get("Resource"))]
        if not any(iam_pattern_matches(r, method_arn) for r in resources):
            continue
        effect = str(statement.get("Effect", ""))
        if effect == "Deny":
            return "deny"
        if effect == "Allow":
            allowed = True
    return "allow" if allowed else "implicit_deny"


def method_arn(method: str, path: str) -> str:
    """The execute-api ARN API Gateway hands the authorizer for a request."""
    prefix = f"arn:aws:execute-api:{EXECUTE_API_REGION}:{LOCAL_ACCOUNT_ID}:{API_ID}/{STAGE}"
    return f"{prefix}/{method}/{path.lstrip('/')}"


# ---- routes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CompiledRoute:
    route: ApiRoute
    pattern: re.Pattern[str]
    params: tuple[str, ...]
    # Static segments before {param} before {proxy+}: API Gateway picks the most specific resource.
    rank: tuple[int, ...]


def _compile(route: ApiRoute) -> _CompiledRoute:
    parts: list[str] = []
    params: list[str] = []
    rank: list[int] = []
    for segment in route.path.strip("/").split("/") if route.path.strip("/") else []:
        greedy = re.fullmatch(r"\{(.+)\+\}", segment)
        param = re.fullmatch(r"\{(.+)\}", segment)
        if greedy:
            parts.append(f"(?P<p{len(params)}>.+)")
            params.append(greedy.group(1))
            rank.append(2)
        elif param:
            parts.append(f"(?P<p{len(params)}>[^/]+)")
            params.append(param.group(1))
            rank.append(1)
        else:
            parts.append(re.escape(segment))
            rank.append(0)
    return _CompiledRoute(route, re.compile("/" + "/".join(parts)), tuple(params), tuple(rank))


@dataclass(frozen=True)
class BackgroundFailure:
    """An asynchronous invocation whose handler raised (logged, and kept here for tests)."""

    function: str
    event: Any
    error: str


@dataclass
class _CachedDecision:
    expires_at: float
    policy: dict[str, Any]


@dataclass
class _Invocation:
    """What one API request carries into the authorizer and the integration."""

    method: str
    path: str
    route: _CompiledRoute
    path_parameters: dict[str, str] | None
    headers: dict[str, str]
    multi_headers: dict[str, list[str]]
    query: dict[str, str] | None
    multi_query: dict[str, list[str]] | None
    body: str | None
    is_base64: bool
    request_context: dict[str, Any] = field(default_factory=dict)


class Gateway:
    """WSGI app serving template.yaml's Api routes and Lambda's Invoke API from in-process handlers."""

    def __init__(
        self,
        template: Mapping[str, Any] | None = None,
        *,
        background_workers: int = 4,
        authorizer_cache: bool = True,
    ) -> None:
        self.template = template if template is not None else lambda_runtime.default_template()
        self.routes: list[ApiRoute] = api_routes(self.template)
        self.functions: dict[str, FunctionSpec] = functions(self.template)
        self.apis: dict[str, ApiSpec] = apis(self.template)
        self._compiled = sorted((_compile(r) for r in self.routes), key=lambda c: c.rank)
        self._authorizer_cache_enabled = authorizer_cache
        self._decisions: dict[tuple[str, tuple[str, ...]], _CachedDecision] = {}
        self._decisions_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=background_workers, thread_name_prefix="lambda-event")
        self._pending = 0
        self._idle = threading.Condition()
        self.background_failures: list[BackgroundFailure] = []

    # ---- WSGI ------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except Exception:
            log.exception("gateway failed on %s %s", request.method, request.path)
            response = self._gateway_response("INTEGRATION_FAILURE", str(uuid.uuid4()), None)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        """Answer one HTTP request: a Lambda Invoke call or an API route."""
        invoke = INVOKE_PATH.match(request.path)
        if invoke:
            return self._invoke_api(request, invoke.group("name"))
        docs = api_docs.respond(request.method.upper(), request.path)  # /docs, /openapi.json
        if docs is not None:
            return docs
        return self._serve_route(request)

    # ---- API routes ------------------------------------------------------------------------------

    def match(self, method: str, path: str) -> tuple[_CompiledRoute | None, dict[str, str], list[str]]:
        """The route for METHOD path, its path parameters, and the methods the matched resource allows."""
        matches: list[tuple[_CompiledRoute, re.Match[str]]] = []
        for compiled in self._compiled:
            found = compiled.pattern.fullmatch(path)
            if found:
                matches.append((compiled, found))
        if not matches:
            return None, {}, []
        best_rank = matches[0][0].rank
        resource = matches[0][0].route.path
        same_resource = [(c, m) for c, m in matches if c.route.path == resource and c.rank == best_rank]
        allowed = sorted({c.route.method for c, _ in same_resource})
        for compiled, found in same_resource:
            if compiled.route.method in (method, "ANY"):
                params = {name: found.group(f"p{i}") for i, name in enumerate(compiled.params)}
                return compiled, params, allowed
        return None, {}, allowed

    def _serve_route(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        method = request.method.upper()
        path = request.path.rstrip("/") or "/"
        if (request.content_length or 0) > MAX_BODY_BYTES:
            # Refused before routing or the authorizer, and before the body is read.
            message = f"the request body exceeds {MAX_BODY_BYTES} bytes"
            return _json_response(413, _error_body("payload_too_large", message), request_id)
        compiled, params, allowed = self.match(method, path)
        if compiled is None:
            if allowed:
                response = _json_response(
                    405,
                    _error_body("method_not_allowed", f"{method} is not allowed on {path}"),
                    request_id,
                )
                response.headers["Allow"] = ", ".join(allowed)
                return response
            return _json_response(404, _error_body("no_route", f"no route for {method} {path}"), request_id)

        call = self._build_invocation(
            request, method=method, path=path, compiled=compiled, params=params, request_id=request_id
        )
        route = compiled.route
        if route.authorizer is not None:
            started = time.perf_counter()
            denied, principal, context = self._authorize(route, call, request_id)
            if denied is not None:
                return denied
            authorizer: dict[str, Any] = {"principalId": principal, **context}
            authorizer["integrationLatency"] = int((time.perf_counter() - started) * 1000)
            call.request_context["authorizer"] = authorizer
        return self._integrate(route, call, request_id)

    def _build_invocation(
        self,
        request: Request,
        *,
        method: str,
        path: str,
        compiled: _CompiledRoute,
        params: dict[str, str],
        request_id: str,
    ) -> _Invocation:
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            multi_headers.setdefault(name, []).append(value)
        source_ip = request.remote_addr or "127.0.0.1"
        multi_headers.setdefault("X-Forwarded-For", [source_ip])
        multi_headers.setdefault("X-Forwarded-Proto", [request.scheme])
        headers = {name: values[-1] for name, values in multi_headers.items()}
        multi_query = {name: request.args.getlist(name) for name in request.args}
        raw = request.get_data(cache=False)
        body: str | None = None
        is_base64 = False
        if raw:
            try:
                body = raw.decode("utf-8")
            except UnicodeDecodeError:
                body, is_base64 = base64.b64encode(raw).decode("ascii"), True
        now = datetime.now(UTC)
        request_context = {
            "accountId": LOCAL_ACCOUNT_ID,
            "apiId": API_ID,
            "resourceId": compiled.route.path,
            "resourcePath": compiled.route.path,
            "httpMethod": method,
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "domainName": request.host,
            "identity": {
                "sourceIp": source_ip,
                "userAgent": request.headers.get("User-Agent"),
                "accountId": None,
                "caller": None,
                "user": None,
                "userArn": None,
            },
        }
        return _Invocation(
            method=method,
            path=path,
            route=compiled,
            path_parameters=params or None,
            headers=headers,
            multi_headers=multi_headers,
            query={name: values[-1] for name, values in multi_query.items()} or None,
            multi_query=multi_query or None,
            body=body,
            is_base64=is_base64,
            request_context=request_context,
        )

    def proxy_event(self, call: _Invocation) -> dict[str, Any]:
        """The API Gateway REST (v1) Lambda proxy event for one request."""
        return {
            "resource": call.route.route.path,
            "path": call.path,
            "httpMethod": call.method,
            "headers": dict(call.headers),
            "multiValueHeaders": {k: list(v) for k, v in call.multi_headers.items()},
            "queryStringParameters": dict(call.query) if call.query else None,
            "multiValueQueryStringParameters": (
                {k: list(v) for k, v in call.multi_query.items()} if call.multi_query else None
            ),
            "pathParameters": dict(call.path_parameters) if call.path_parameters else None,
            "stageVariables": None,
            "requestContext": dict(call.request_context),
            "body": call.body,
            "isBase64Encoded": call.is_base64,
        }

    # ---- the authorizer --------------------------------------------------------------------------

    def _authorize(  # noqa: PLR0911 - one exit per API Gateway outcome
        self, route: ApiRoute, call: _Invocation, request_id: str
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
    def _identity(authorizer: AuthorizerSpec, call: _Invocation) -> tuple[str, ...] | None:
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

    def _authorizer_event(self, authorizer: AuthorizerSpec, call: _Invocation, arn: str) -> dict[str, Any]:
        if authorizer.payload_type == "TOKEN":
            lowered = {name.lower(): value for name, value in call.headers.items()}
            token = lowered.get(authorizer.identity_headers[0].lower(), "")
            return {"type": "TOKEN", "authorizationToken": token, "methodArn": arn}
        event = self.proxy_event(call)
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

    def clear_authorizer_cache(self) -> None:
        with self._decisions_lock:
            self._decisions.clear()

    # ---- the integration -------------------------------------------------------------------------

    def _integrate(self, route: ApiRoute, call: _Invocation, request_id: str) -> Response:
        try:
            result = lambda_runtime.invoke(route.function, self.proxy_event(call), self.template)
        except Exception:
            log.exception("%s raised on %s %s", route.function, call.method, call.path)
            return self._gateway_response("INTEGRATION_FAILURE", request_id, route.api)
        problem = _proxy_result_problem(result)
        if problem:
            log.error("%s returned a malformed proxy response: %s", route.function, problem)
            return self._gateway_response("INTEGRATION_FAILURE", request_id, route.api)
        return _proxy_response(result, request_id)

    def _gateway_response(self, response_type: str, request_id: str, api: str | None) -> Response:
        declared = self.apis[api].gateway_responses if api in self.apis else {}
        spec = declared.get(response_type) or DEFAULT_GATEWAY_RESPONSES[response_type]
        status = spec.status_code or DEFAULT_GATEWAY_RESPONSES[response_type].status_code
        response = Response(spec.body, status=status, content_type=spec.content_type)
        response.headers.update(spec.headers)
        response.headers["x-amzn-RequestId"] = request_id
        response.headers["x-amzn-ErrorType"] = _ERROR_TYPES.get(response_type, response_type)
        return response

    # ---- Lambda's Invoke API ---------------------------------------------------------------------

    def resolve_function(self, name: str) -> str | None:
        """The logical id for a function name, logical id or ARN (a `:qualifier` suffix is ignored)."""
        parts = name.split(":")
        if "function" in parts:
            parts = parts[parts.index("function") + 1 :]
        bare = parts[0] if parts else name
        if bare in self.functions:
            return bare
        for logical_id, spec in self.functions.items():
            if spec.function_name == bare:
                return logical_id
        return None

    def _invoke_api(self, request: Request, name: str) -> Response:  # noqa: PLR0911 - one per Lambda answer
        request_id = str(uuid.uuid4())
        if request.method != "POST":
            return _lambda_error(405, "MethodNotAllowedException", "Invoke takes POST", request_id)
        logical_id = self.resolve_function(name)
        if logical_id is None:
            return _lambda_error(404, "ResourceNotFoundException", f"Function not found: {name}", request_id)
        raw = request.get_data(cache=False)
        try:
            event = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return _lambda_error(
                400, "InvalidRequestContentException", "Could not parse request body into json", request_id
            )

        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            return _lambda_reply(204, b"", request_id)
        if invocation_type == "Event":
            self._submit_background(logical_id, event)
            return _lambda_reply(202, b"", request_id)
        if invocation_type != "RequestResponse":
            return _lambda_error(
                400,
                "InvalidParameterValueException",
                f"unknown invocation type {invocation_type}",
                request_id,
            )
        try:
            result = lambda_runtime.invoke(logical_id, event, self.template)
            payload = json.dumps(result).encode()
        except Exception as exc:
            log.exception("%s raised in a RequestResponse invocation", logical_id)
            response = _lambda_reply(200, json.dumps(_lambda_error_payload(exc)).encode(), request_id)
            response.headers["X-Amz-Function-Error"] = "Unhandled"
            return response
        return _lambda_reply(200, payload, request_id)

    # ---- background (Event) invocations ----------------------------------------------------------

    def _submit_background(self, logical_id: str, event: Any) -> None:
        with self._idle:
            self._pending += 1
        try:
            self._executor.submit(self._run_background, logical_id, event)
        except RuntimeError:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()
            raise

    def _run_background(self, logical_id: str, event: Any) -> None:
        try:
            lambda_runtime.invoke(logical_id, event, self.template)
        except Exception as exc:
            log.exception("asynchronous invocation of %s failed", logical_id)
            self.background_failures.append(
                BackgroundFailure(logical_id, event, f"{type(exc).__name__}: {exc}")
            )
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def wait_for_background(self, timeout: float | None = 30.0) -> bool:
        """Block until no asynchronous invocation is queued or running (including ones they start).

        Returns False when `timeout` seconds pass first.
        """
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float | None = 10.0) -> bool:
        """Stop taking asynchronous invocations; wait up to `timeout` for the running ones. True if idle."""
        idle = self.wait_for_background(timeout)
        self._executor.shutdown(wait=idle, cancel_futures=True)
        return idle


# ---- responses -----------------------------------------------------------------------------------


def _json_response(status: int, body: str, request_id: str) -> Response:
    response = Response(body, status=status, content_type=JSON)
    response.headers["x-amzn-RequestId"] = request_id
    return response


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


def _proxy_result_problem(result: Any) -> str | None:
    if not isinstance(result, dict):
        return f"expected a dict, got {type(result).__name__}"
    if not isinstance(result.get("statusCode"), int):
        return "statusCode is missing or not an integer"
    if result.get("body") is not None and not isinstance(result["body"], str):
        return "body is not a string"
    if not isinstance(result.get("headers") or {}, dict) or not isinstance(
        result.get("multiValueHeaders") or {}, dict
    ):
        return "headers are not objects"
    return None


def _proxy_response(result: dict[str, Any], request_id: str) -> Response:
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    response = Response(data, status=result["statusCode"])
    response.headers.clear()
    multi: dict[str, list[Any]] = result.get("multiValueHeaders") or {}
    # API Gateway: a header in both maps takes multiValueHeaders' values.
    multi_names = {name.lower() for name in multi}
    for name, values in multi.items():
        for value in _as_list(values):
            response.headers.add(name, str(value))
    for name, value in (result.get("headers") or {}).items():
        if name.lower() not in multi_names:
            response.headers[name] = str(value)
    if "content-type" not in {name.lower() for name in response.headers.keys()}:  # noqa: SIM118 - Headers
        response.headers["Content-Type"] = JSON
    response.headers["Content-Length"] = str(len(data))
    response.headers["x-amzn-RequestId"] = request_id
    return response


def _lambda_reply(status: int, payload: bytes, request_id: str) -> Response:
    response = Response(payload, status=status, content_type=JSON)
    response.headers["x-amzn-RequestId"] = request_id
    response.headers["X-Amz-Executed-Version"] = "$LATEST"
    return response


def _lambda_error(status: int, error_type: str, message: str, request_id: str) -> Response:
    response = Response(json.dumps({"Type": "User", "Message": message}), status=status, content_type=JSON)
    # botocore reads the error code of a rest-json service from this header.
    response.headers["x-amzn-ErrorType"] = error_type
    response.headers["x-amzn-RequestId"] = request_id
    return response


def _lambda_error_payload(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, TypeError | ValueError) and "JSON serializable" in str(exc):
        return {"errorMessage": f"Unable to marshal response: {exc}", "errorType": "Runtime.MarshalError"}
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


# ---- serving -------------------------------------------------------------------------------------


# The local stack's name for the running gateway.
RunningGateway = RunningServer


def serve_gateway(
    gateway: Gateway, host: str = "127.0.0.1", port: int = 3000, *, access_log: bool = True
) -> RunningServer:
    """Serve `gateway` on host:port (0 picks a free port) from a daemon thread; return once it listens.

    Raises OSError when the port is taken.
    """
    return serve_wsgi(gateway, host, port, name="roamsync-gateway", access_log=access_log)
