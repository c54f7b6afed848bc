"""A local API Gateway (REST, v1 proxy events) and Lambda Invoke API over template.yaml's functions.

iam: policy evaluation; routing: resource matching; proxy: the v1 proxy event; responses: the HTTP
answers; authorizer: the authorizer step and its cache; invoke: Lambda's Invoke API; app: the WSGI app.
"""

from roamsync_dev.gateway.app import Gateway, RunningGateway, serve_gateway
from roamsync_dev.gateway.authorizer import UNAUTHORIZED_MESSAGE, Authorizer
from roamsync_dev.gateway.iam import (
    API_ID,
    EXECUTE_API_REGION,
    STAGE,
    Decision,
    evaluate_policy,
    iam_pattern_matches,
    method_arn,
)
from roamsync_dev.gateway.invoke import INVOKE_PATH, BackgroundFailure, InvokeApi
from roamsync_dev.gateway.responses import DEFAULT_GATEWAY_RESPONSES, JSON

__all__ = [
    "API_ID",
    "DEFAULT_GATEWAY_RESPONSES",
    "EXECUTE_API_REGION",
    "INVOKE_PATH",
    "JSON",
    "STAGE",
    "UNAUTHORIZED_MESSAGE",
    "Authorizer",
    "BackgroundFailure",
    "Decision",
    "Gateway",
    "InvokeApi",
    "RunningGateway",
    "evaluate_policy",
    "iam_pattern_matches",
    "method_arn",
    "serve_gateway",
]
