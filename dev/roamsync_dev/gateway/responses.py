"""The HTTP answers the gateway gives: gateway responses, proxy results, Lambda Invoke replies."""

from __future__ import annotations

import base64
import json
import traceback
from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Response

from roamsync_dev.gateway.iam import as_list
from roamsync_dev.template import ApiSpec, GatewayResponse

JSON = "application/json"


def error_body(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}})


# What API Gateway answers for a response type the template does not customise.
DEFAULT_GATEWAY_RESPONSES: dict[str, GatewayResponse] = {
    "UNAUTHORIZED": GatewayResponse(401, json.dumps({"message": "Unauthorized"})),
    "ACCESS_DENIED": GatewayResponse(
        403, json.dumps({"Message": "User is not authorized to access this resource with an explicit deny"})
    ),
    "AUTHORIZER_FAILURE": GatewayResponse(500, error_body("authorizer_failure", "the authorizer failed")),
    "AUTHORIZER_CONFIGURATION_ERROR": GatewayResponse(
        500, error_body("authorizer_configuration_error", "the authorizer returned an invalid response")
    ),
    "INTEGRATION_FAILURE": GatewayResponse(502, error_body("internal_error", "Internal server error")),
}
_ERROR_TYPES = {
    "UNAUTHORIZED": "UnauthorizedException",
    "ACCESS_DENIED": "AccessDeniedException",
    "AUTHORIZER_FAILURE": "AuthorizerFailureException",
    "AUTHORIZER_CONFIGURATION_ERROR": "AuthorizerConfigurationException",
    "INTEGRATION_FAILURE": "InternalServerErrorException",
}


def gateway_response(
    apis: Mapping[str, ApiSpec], response_type: str, request_id: str, api: str | None
) -> Response:
    """API Gateway's answer of `response_type`, as the API customises it or by default."""
    declared = apis[api].gateway_responses if api is not None and api in apis else {}
    spec = declared.get(response_type) or DEFAULT_GATEWAY_RESPONSES[response_type]
    status = spec.status_code or DEFAULT_GATEWAY_RESPONSES[response_type].status_code
    response = Response(spec.body, status=status, content_type=spec.content_type)
    response.headers.update(spec.headers)
    response.headers["x-amzn-RequestId"] = request_id
    response.headers["x-amzn-ErrorType"] = _ERROR_TYPES.get(response_type, response_type)
    return response


def json_response(status: int, body: str, request_id: str) -> Response:
    response = Response(body, status=status, content_type=JSON)
    response.headers["x-amzn-RequestId"] = request_id
    return response


def proxy_result_problem(result: Any) -> str | None:
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


def proxy_response(result: dict[str, Any], request_id: str) -> Response:
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    response = Response(data, status=result["statusCode"])
    response.headers.clear()
    multi: dict[str, list[Any]] = result.get("multiValueHeaders") or {}
    # API Gateway: a header in both maps takes multiValueHeaders' values.
    multi_names = {name.lower() for name in multi}
    for name, values in multi.items():
        for value in as_list(values):
            response.headers.add(name, str(value))
    for name, value in (result.get("headers") or {}).items():
        if name.lower() not in multi_names:
            response.headers[name] = str(value)
    if "content-type" not in {name.lower() for name in response.headers.keys()}:  # noqa: SIM118 - Headers
        response.headers["Content-Type"] = JSON
    response.headers["Content-Length"] = str(len(data))
    response.headers["x-amzn-RequestId"] = request_id
    return response


def lambda_reply(status: int, payload: bytes, request_id: str) -> Response:
    response = Response(payload, status=status, content_type=JSON)
    response.headers["x-amzn-RequestId"] = request_id
    response.headers["X-Amz-Executed-Version"] = "$LATEST"
    return response


def lambda_error(status: int, error_type: str, message: str, request_id: str) -> Response:
    response = Response(json.dumps({"Type": "User", "Message": message}), status=status, content_type=JSON)
    # botocore reads the error code of a rest-json service from this header.
    response.headers["x-amzn-ErrorType"] = error_type
    response.headers["x-amzn-RequestId"] = request_id
    return response


def lambda_error_payload(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, TypeError | ValueError) and "JSON serializable" in str(exc):
        return {"errorMessage": f"Unable to marshal response: {exc}", "errorType": "Runtime.MarshalError"}
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }
