"""The template's Lambda functions, with Globals applied."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roamsync_dev.template.document import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_SECONDS,
    FUNCTION_TYPE,
    _globals,
    _properties,
    _resources,
    pseudo_parameters,
    resolve_string,
)
from roamsync_dev.template.loading import LOCAL_STACK_NAME, REPO_ROOT


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str  # "app.lambda_handler"
    timeout: int  # seconds
    memory_size: int  # MB
    function_name: str | None  # the resolved FunctionName, when the template sets one
    environment: dict[str, Any]  # Globals' variables overlaid with the function's, unresolved

    @property
    def name(self) -> str:
        """The name Lambda knows the function by (its FunctionName, else its logical id)."""
        return self.function_name or self.logical_id


def functions(
    template: Mapping[str, Any], *, root: Path | None = None, stack_name: str = LOCAL_STACK_NAME
) -> dict[str, FunctionSpec]:
    """Every `AWS::Serverless::Function` with a local CodeUri, with Globals applied."""
    base = root or REPO_ROOT
    defaults = _globals(template, "Function")
    variables = pseudo_parameters(template, stack_name=stack_name)
    specs: dict[str, FunctionSpec] = {}
    for logical_id, resource in _resources(template, FUNCTION_TYPE).items():
        props = {**defaults, **_properties(resource)}
        code_uri = props.get("CodeUri")
        if not isinstance(code_uri, str):
            continue  # code in S3 or an image: nothing to run in-process
        environment = {
            **((defaults.get("Environment") or {}).get("Variables") or {}),
            **((_properties(resource).get("Environment") or {}).get("Variables") or {}),
        }
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=(base / code_uri).resolve(),
            handler=str(props.get("Handler", "app.lambda_handler")),
            timeout=int(props.get("Timeout", DEFAULT_TIMEOUT_SECONDS)),
            memory_size=int(props.get("MemorySize", DEFAULT_MEMORY_MB)),
            function_name=resolve_string(props.get("FunctionName"), variables),
            environment=environment,
        )
    return specs
