"""The APIs, their authorizers and gateway responses, and the `Type: Api` routes of the template."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from roamsync_dev.template.document import (
    API_TYPE,
    DEFAULT_REAUTHORIZE_SECONDS,
    FUNCTION_TYPE,
    IMPLICIT_API,
    _globals,
    _properties,
    _resources,
    ref_target,
)


@dataclass(frozen=True)
class AuthorizerSpec:
    """A Lambda authorizer of an API: which function, which payload, which identity sources."""

    name: str
    function: str  # logical id of the authorizer function
    payload_type: str  # "REQUEST" or "TOKEN"
    identity_headers: tuple[str, ...]
    identity_query_strings: tuple[str, ...]
    reauthorize_every: int  # seconds API Gateway caches a decision; 0 = no cache


@dataclass(frozen=True)
class GatewayResponse:
    """What API Gateway answers itself (before or instead of the integration) for one response type."""

    status_code: int
    body: str
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiSpec:
    logical_id: str
    stage_name: str | None
    default_authorizer: str | None
    authorizers: dict[str, AuthorizerSpec]
    gateway_responses: dict[str, GatewayResponse]


@dataclass(frozen=True)
class ApiRoute:
    """One `Type: Api` event of a function: METHOD path → function."""

    method: str  # upper case; "ANY" matches every method
    path: str  # as declared, e.g. /api/admin/my-packages/{id}
    function: str  # logical id
    api: str  # logical id of the API (ServerlessRestApi when the event names none)
    event: str  # the event's name in the function's Events
    authorizer: str | None  # the authorizer's name, None for a public route
    uses_default_authorizer: bool  # the API's DefaultAuthorizer applies (the event did not override it)

    @property
    def public(self) -> bool:
        return self.authorizer is None


def _gateway_responses(auth_api: Mapping[str, Any]) -> dict[str, GatewayResponse]:
    responses: dict[str, GatewayResponse] = {}
    for response_type, declared in (auth_api.get("GatewayResponses") or {}).items():
        spec = declared or {}
        templates = spec.get("ResponseTemplates") or {}
        content_type, body = next(iter(templates.items()), ("application/json", ""))
        headers: dict[str, str] = {}
        for name, value in ((spec.get("ResponseParameters") or {}).get("Headers") or {}).items():
            # SAM writes static header values in single quotes, as API Gateway mapping expressions.
            headers[name] = str(value).strip("'")
        status = spec.get("StatusCode")
        responses[response_type] = GatewayResponse(
            status_code=int(status) if status is not None else 0,
            body=str(body),
            content_type=str(content_type),
            headers=headers,
        )
    return responses


def _api_spec(logical_id: str, properties: Mapping[str, Any]) -> ApiSpec:
    auth = properties.get("Auth") or {}
    authorizers: dict[str, AuthorizerSpec] = {}
    for name, spec in (auth.get("Authorizers") or {}).items():
        function = ref_target(spec.get("FunctionArn"))
        if function is None:
            continue  # a Cognito or IAM authorizer: not a Lambda the local stack can run
        identity = spec.get("Identity") or {}
        payload = str(spec.get("FunctionPayloadType", "TOKEN")).upper()
        headers = tuple(identity.get("Headers") or ())
        if payload == "TOKEN":
            headers = (identity.get("Header") or "Authorization",)
        authorizers[name] = AuthorizerSpec(
            name=name,
            function=function,
            payload_type=payload,
            identity_headers=headers,
            identity_query_strings=tuple(identity.get("QueryStrings") or ()),
            reauthorize_every=int(identity.get("ReauthorizeEvery", DEFAULT_REAUTHORIZE_SECONDS)),
        )
    stage = properties.get("StageName")
    return ApiSpec(
        logical_id=logical_id,
        stage_name=stage if isinstance(stage, str) else None,
        default_authorizer=auth.get("DefaultAuthorizer"),
        authorizers=authorizers,
        gateway_responses=_gateway_responses(properties),
    )


def apis(template: Mapping[str, Any]) -> dict[str, ApiSpec]:
    """Every REST API: the declared `AWS::Serverless::Api`s, plus the implicit one from Globals.Api."""
    specs = {lid: _api_spec(lid, _properties(res)) for lid, res in _resources(template, API_TYPE).items()}
    specs[IMPLICIT_API] = _api_spec(IMPLICIT_API, _globals(template, "Api"))
    return specs


def api_routes(template: Mapping[str, Any]) -> list[ApiRoute]:
    """Every `Type: Api` event of every function, sorted by path then method."""
    api_specs = apis(template)
    routes: list[ApiRoute] = []
    for function_id, resource in _resources(template, FUNCTION_TYPE).items():
        for event_name, event in (_properties(resource).get("Events") or {}).items():
            if not isinstance(event, dict) or event.get("Type") != "Api":
                continue
            props = event.get("Properties") or {}
            api_id = ref_target(props.get("RestApiId")) or IMPLICIT_API
            api = api_specs.get(api_id) or _api_spec(api_id, {})
            event_auth = (props.get("Auth") or {}).get("Authorizer")
            if event_auth == "NONE":
                authorizer, uses_default = None, False
            elif event_auth:
                authorizer, uses_default = str(event_auth), event_auth == api.default_authorizer
            else:
                authorizer, uses_default = api.default_authorizer, api.default_authorizer is not None
            routes.append(
                ApiRoute(
                    method=str(props.get("Method", "any")).upper(),
                    path=str(props["Path"]),
                    function=function_id,
                    api=api_id,
                    event=event_name,
                    authorizer=authorizer,
                    uses_default_authorizer=uses_default,
                )
            )
    return sorted(routes, key=lambda r: (r.path, r.method))


def gateway_responses(template: Mapping[str, Any], api: str | None = None) -> dict[str, GatewayResponse]:
    """The GatewayResponses (UNAUTHORIZED, ACCESS_DENIED, ...) of `api`, default: the one declared API.

    Raises KeyError for an unknown API logical id.
    """
    specs = apis(template)
    if api is None:
        declared = [lid for lid in specs if lid != IMPLICIT_API]
        api = declared[0] if len(declared) == 1 else IMPLICIT_API
    return dict(specs[api].gateway_responses)
