"""The template's schedules (EventBridge rules on functions) and whether each is enabled."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from roamsync_dev.template.document import (
    FUNCTION_TYPE,
    _properties,
    _resources,
    pseudo_parameters,
    resolve_string,
)
from roamsync_dev.template.loading import LOCAL_STACK_NAME


@dataclass(frozen=True)
class ScheduleSpec:
    """A function's `Schedule` event: the EventBridge rule the template creates for it."""

    function: str
    rule_name: str
    expression: str
    enabled: bool


def schedules(template: Mapping[str, Any], *, stack_name: str = LOCAL_STACK_NAME) -> list[ScheduleSpec]:
    """Every `Schedule` event, its rule name resolved and its state at the parameters' defaults."""
    variables = pseudo_parameters(template, stack_name=stack_name)
    conditions = template.get("Conditions") or {}
    found: list[ScheduleSpec] = []
    for logical_id, resource in _resources(template, FUNCTION_TYPE).items():
        for event in (_properties(resource).get("Events") or {}).values():
            if not isinstance(event, dict) or event.get("Type") != "Schedule":
                continue
            props = event.get("Properties") or {}
            name = resolve_string(props.get("Name"), variables) or f"{stack_name}-{logical_id}"
            found.append(
                ScheduleSpec(
                    function=logical_id,
                    rule_name=name,
                    expression=str(props.get("Schedule")),
                    enabled=_schedule_state(props, conditions, variables) == "ENABLED",
                )
            )
    return found


def _schedule_state(
    props: Mapping[str, Any], conditions: Mapping[str, Any], variables: Mapping[str, str]
) -> str:
    """ENABLED / DISABLED from `State` (a literal or `!If [Condition, A, B]` over `!Equals`)."""
    state = props.get("State", "ENABLED")
    if isinstance(state, dict) and "Fn::If" in state:
        condition, when_true, when_false = state["Fn::If"]
        state = when_true if _condition_holds(conditions.get(condition), variables) else when_false
    return str(state)


def _condition_holds(condition: Any, variables: Mapping[str, str]) -> bool:
    if isinstance(condition, dict) and "Fn::Equals" in condition:
        left, right = (
            variables.get(str(side["Ref"]), "") if isinstance(side, dict) and "Ref" in side else str(side)
            for side in condition["Fn::Equals"]
        )
        return left == right
    return bool(condition)
