"""Small readers over a loaded template: resources by type, properties, Globals, and the few intrinsics
the local stack resolves (`Ref` to a table, `GetAtt` to a function, `Sub` of pseudo parameters).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from roamsync_dev.template.loading import LOCAL_ACCOUNT_ID, LOCAL_REGION, LOCAL_STACK_NAME

FUNCTION_TYPE = "AWS::Serverless::Function"
API_TYPE = "AWS::Serverless::Api"
TABLE_TYPE = "AWS::DynamoDB::Table"
# The API SAM creates for Api events that name no RestApiId.
IMPLICIT_API = "ServerlessRestApi"

# SAM's defaults when neither the function nor Globals says otherwise.
DEFAULT_TIMEOUT_SECONDS = 3
DEFAULT_MEMORY_MB = 128
DEFAULT_REAUTHORIZE_SECONDS = 300


def _resources(template: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if isinstance(resource, dict) and resource.get("Type") == resource_type
    }


def _properties(resource: Mapping[str, Any]) -> dict[str, Any]:
    return dict(resource.get("Properties") or {})


def _globals(template: Mapping[str, Any], section: str) -> dict[str, Any]:
    return dict((template.get("Globals") or {}).get(section) or {})


def ref_target(value: Any) -> str | None:
    """The logical id of `{"Ref": X}` or `{"Fn::GetAtt": [X, ...]}`, else None."""
    if isinstance(value, dict) and len(value) == 1:
        if "Ref" in value and isinstance(value["Ref"], str):
            return value["Ref"]
        get_att = value.get("Fn::GetAtt")
        if isinstance(get_att, list) and get_att and isinstance(get_att[0], str):
            return get_att[0]
    return None


def pseudo_parameters(
    template: Mapping[str, Any],
    *,
    stack_name: str = LOCAL_STACK_NAME,
    region: str = LOCAL_REGION,
    account_id: str = LOCAL_ACCOUNT_ID,
) -> dict[str, str]:
    """Values `${...}` may name in a Sub: the pseudo parameters and each Parameter's default."""
    values = {
        "AWS::StackName": stack_name,
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    for name, spec in (template.get("Parameters") or {}).items():
        if isinstance(spec, dict) and "Default" in spec:
            values[name] = str(spec["Default"])
    return values


_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


def resolve_string(value: Any, variables: Mapping[str, str]) -> str | None:
    """A plain string, or a `Fn::Sub` whose variables are all known; None for anything else."""
    if isinstance(value, str):
        return value
    if not (isinstance(value, dict) and "Fn::Sub" in value):
        return None
    sub = value["Fn::Sub"]
    local: dict[str, str] = dict(variables)
    if isinstance(sub, list):
        text, extra = sub[0], sub[1] if len(sub) > 1 else {}
        for name, raw in (extra or {}).items():
            resolved = resolve_string(raw, variables)
            if resolved is None:
                return None
            local[name] = resolved
    else:
        text = sub
    if not isinstance(text, str):
        return None
    unknown = [name for name in _SUB_VARIABLE.findall(text) if name not in local]
    if unknown:
        return None
    return _SUB_VARIABLE.sub(lambda m: local[m.group(1)], text).replace("${!", "${")
