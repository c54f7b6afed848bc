"""IAM policy evaluation as API Gateway applies it to a Lambda authorizer's answer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from roamsync_dev.template import LOCAL_ACCOUNT_ID

STAGE = "local"
API_ID = "local"
EXECUTE_API_REGION = "local"


def iam_pattern_matches(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """IAM wildcard matching: `*` is any run of characters (`/` included), `?` exactly one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = re.DOTALL | (0 if case_sensitive else re.IGNORECASE)
    return re.fullmatch(regex, value, flags) is not None


def as_list(value: Any) -> list[Any]:
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
    for statement in as_list(policy_document.get("Statement")):
        if not isinstance(statement, dict):
            continue
        actions = [str(a) for a in as_list(statement.get("Action"))]
        if not any(iam_pattern_matches(a, "execute-api:Invoke", case_sensitive=False) for a in actions):
            continue
        resources = [str(r) for r in as_list(statement.get("Resource"))]
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
