"""A local API Gateway (REST, v1 proxy events) and Lambda Invoke API over template.yaml's functions.

Every `Type: Api` event of the template is served by calling its function's handler in-process with the
event API Gateway would build. Routes under an authorizer go through the same authorizer function,
with API Gateway's rules: a missing identity source is a 401 without calling it, "Unauthorized" raised
is a 401, the returned IAM policy is evaluated against the method ARN (explicit Deny wins, no match is
a 403), and a decision is cached per identity for the authorizer's ReauthorizeEvery, as in AWS.

`GET /docs` serves Swagger UI over `GET /openapi.json`, the committed document (roamsync_dev.api_docs).

`POST /2015-03-31/functions/<name>/invocations` emulates Lambda's Invoke (roamsync_dev.gateway.invoke).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Request, Response

from roamsync.http import MAX_BODY_BYTES
from roamsync_dev import api_docs, lambda_runtime
from roamsync_dev.gateway.authorizer import Authorizer
from roamsync_dev.gateway.invoke import INVOKE_PATH, BackgroundFailure, InvokeApi
from roamsync_dev.gateway.proxy import Invocation, build_invocation, proxy_event
from roamsync_dev.gateway.responses import (
    error_body,
    gateway_response,
    json_response,
    proxy_response,
    proxy_result_problem,
)
from roamsync_dev.gateway.routing import CompiledRoute, compile_routes, match_route
from roamsync_dev.serving import RunningServer, serve_wsgi
from roamsync_dev.template import ApiRoute, ApiSpec, FunctionSpec, api_routes, apis, functions

log = logging.getLogger("roamsync_dev.gateway")


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
        self._compiled = compile_routes(self.routes)
        self.authorizer = Authorizer(self.template, self.apis, self.functions, cache=authorizer_cache)
        self.invoker = InvokeApi(self.template, self.functions, background_workers=background_workers)
        self.background_failures: list[BackgroundFailure] = self.invoker.background_failures

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

    def match(self, method: str, path: str) -> tuple[CompiledRoute | None, dict[str, str], list[str]]:
        """The route for METHOD path, its path parameters, and the methods the matched resource allows."""
        return match_route(self._compiled, method, path)

    def _serve_route(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        method = request.method.upper()
        path = request.path.rstrip("/") or "/"
        if (request.content_length or 0) > MAX_BODY_BYTES:
            # Refused before routing or the authorizer, and before the body is read.
            message = f"the request body exceeds {MAX_BODY_BYTES} bytes"
            return json_response(413, error_body("payload_too_large", message), request_id)
        compiled, params, allowed = self.match(method, path)
        if compiled is None:
            if allowed:
                response = json_response(
                    405,
                    error_body("method_not_allowed", f"{method} is not allowed on {path}"),
                    request_id,
                )
                response.headers["Allow"] = ", ".join(allowed)
                return response
            return json_response(404, error_body("no_route", f"no route for {method} {path}"), request_id)

        call = build_invocation(
            request, method=method, path=path, compiled=compiled, params=params, request_id=request_id
        )
        route = compiled.route
        if route.authorizer is not None:
            started = time.perf_counter()
            denied, principal, context = self.authorizer.authorize(route, call, request_id)
            if denied is not None:
                return denied
            authorizer: dict[str, Any] = {"principalId": principal, **context}
            authorizer["integrationLatency"] = int((time.perf_counter() - started) * 1000)
            call.request_context["authorizer"] = authorizer
        return self._integrate(route, call, request_id)

    def proxy_event(self, call: Invocation) -> dict[str, Any]:
        """The API Gateway REST (v1) Lambda proxy event for one request."""
        return proxy_event(call)

    def clear_authorizer_cache(self) -> None:
        self.authorizer.clear_cache()

    # ---- the integration -------------------------------------------------------------------------

    def _integrate(self, route: ApiRoute, call: Invocation, request_id: str) -> Response:
        try:
            result = lambda_runtime.invoke(route.function, proxy_event(call), self.template)
        except Exception:
            log.exception("%s raised on %s %s", route.function, call.method, call.path)
            return self._gateway_response("INTEGRATION_FAILURE", request_id, route.api)
        problem = proxy_result_problem(result)
        if problem:
            log.error("%s returned a malformed proxy response: %s", route.function, problem)
            return self._gateway_response("INTEGRATION_FAILURE", request_id, route.api)
        return proxy_response(result, request_id)

    def _gateway_response(self, response_type: str, request_id: str, api: str | None) -> Response:
        return gateway_response(self.apis, response_type, request_id, api)

    # ---- Lambda's Invoke API ---------------------------------------------------------------------

    def resolve_function(self, name: str) -> str | None:
        """The logical id for a function name, logical id or ARN (a `:qualifier` suffix is ignored)."""
        return self.invoker.resolve_function(name)

    def _invoke_api(self, request: Request, name: str) -> Response:
        return self.invoker.handle(request, name)

    def wait_for_background(self, timeout: float | None = 30.0) -> bool:
        """Block until no asynchronous invocation is queued or running (including ones they start).

        Returns False when `timeout` seconds pass first.
        """
        return self.invoker.wait_for_background(timeout)

    def close(self, timeout: float | None = 10.0) -> bool:
        """Stop taking asynchronous invocations; wait up to `timeout` for the running ones. True if idle."""
        return self.invoker.close(timeout)


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
