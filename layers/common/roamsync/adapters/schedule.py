"""The nightly EventBridge rule: read its state, enable it, disable it.

The template creates the rule (its `NightlyScheduleEnabled` parameter sets the initial state) and
names it in SCHEDULE_RULE_NAME; this only toggles it. Honours AWS_ENDPOINT_URL_EVENTS /
AWS_ENDPOINT_URL through the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from roamsync.domain.errors import NotFound, RoamsyncError


class ScheduleError(RoamsyncError):
    """EventBridge did not answer or refused the call."""


@dataclass(frozen=True)
class ScheduleState:
    rule_name: str
    expression: str | None
    enabled: bool

    def to_json(self) -> dict[str, Any]:
        return {"ruleName": self.rule_name, "expression": self.expression, "enabled": self.enabled}


class ScheduleRule:
    """One EventBridge rule, by name."""

    def __init__(self, rule_name: str, *, region: str, endpoint_url: str | None = None) -> None:
        self.rule_name = rule_name
        self._region = region
        self._endpoint_url = endpoint_url
        self._client: Any = None

    def _events(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # The status page reads the rule while an operator waits: fail in seconds, not minutes.
            config = Config(
                connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"}
            )
            self._client = boto3.client(
                "events", region_name=self._region, endpoint_url=self._endpoint_url, config=config
            )
        return self._client

    def _call(self, operation: str) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response: dict[str, Any] = getattr(self._events(), operation)(Name=self.rule_name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise NotFound(f"no EventBridge rule {self.rule_name!r}") from None
            raise ScheduleError(f"EventBridge {operation} of {self.rule_name!r} failed: {exc}") from None
        except BotoCoreError as exc:
            raise ScheduleError(f"EventBridge {operation} of {self.rule_name!r} failed: {exc}") from None
        return response

    def status(self) -> ScheduleState:
        """The rule's schedule expression and whether it is enabled. Raises NotFound, ScheduleError."""
        rule = self._call("describe_rule")
        return ScheduleState(
            rule_name=self.rule_name,
            expression=rule.get("ScheduleExpression"),
            enabled=rule.get("State") == "ENABLED",
        )

    def enable(self) -> ScheduleState:
        """Turn the nightly run on (idempotent); returns the new state."""
        self._call("enable_rule")
        return self.status()

    def disable(self) -> ScheduleState:
        """Turn the nightly run off (idempotent); returns the new state."""
        self._call("disable_rule")
        return self.status()
