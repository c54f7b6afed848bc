"""Creating the template's tables (and their settings) in a local DynamoDB-compatible server."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from roamsync_dev.template.tables import TableSpec, table_specs

# What a DynamoDB-compatible emulator answers for an operation it does not implement: dynalite sends
# HTTP 400 with this code, as AWS's own service framework does for an unknown operation (DynamoDB
# itself implements every call made here).
UNSUPPORTED_OPERATION_CODES = frozenset({"UnknownOperationException"})

_log = logging.getLogger("roamsync_dev.template")


@dataclass(frozen=True)
class SkippedSetting:
    """A table setting of the template the endpoint could not apply: its operation is not implemented."""

    operation: str  # the DynamoDB operation refused, e.g. "UpdateContinuousBackups"
    setting: str  # what stays off, e.g. "point-in-time recovery"
    error_code: str  # what the endpoint answered, e.g. "UnknownOperationException"
    tables: tuple[str, ...]  # every table left without the setting

    def warning(self) -> str:
        """One line for a log or a banner."""
        return (
            f"{self.setting} skipped: this DynamoDB endpoint does not implement {self.operation} "
            f"({self.error_code}); left off on {', '.join(self.tables)}"
        )


@dataclass(frozen=True)
class TableSetup:
    """What `set_up_tables` did: the tables it created and the settings it had to skip."""

    created: list[str]
    skipped: list[SkippedSetting]

    @property
    def warnings(self) -> list[str]:
        return [s.warning() for s in self.skipped]


class _Unsupported(Exception):
    def __init__(self, operation: str, code: str) -> None:
        super().__init__(operation, code)
        self.operation, self.code = operation, code


def _call(dynamodb_client: Any, method: str, **kwargs: Any) -> Any:
    """`dynamodb_client.<method>(**kwargs)`; raises _Unsupported when the endpoint does not implement it."""
    from botocore.exceptions import ClientError

    try:
        return getattr(dynamodb_client, method)(**kwargs)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in UNSUPPORTED_OPERATION_CODES:
            raise _Unsupported(exc.operation_name, code) from None
        raise


def set_up_tables(
    dynamodb_client: Any, template: Mapping[str, Any], names: Mapping[str, str] | None = None
) -> TableSetup:
    """Create the template's tables under `names` (logical id → table name; default: every table under
    its logical id), skipping those that exist; enable TTL and point-in-time recovery as declared.

    An endpoint that does not implement a setting's operation (an emulator such as dynalite, which
    answers UnknownOperationException) gets that setting skipped on every table, with one warning
    logged per setting, and listed in the result. Raises ValueError for a logical id
    the template does not declare, and botocore's ClientError for anything else the endpoint refuses.
    """
    specs = table_specs(template)
    wanted = dict(names) if names is not None else {lid: lid for lid in specs}
    unknown = sorted(set(wanted) - set(specs))
    if unknown:
        raise ValueError(f"template.yaml declares no table {', '.join(unknown)}")
    created = [
        table_name
        for logical_id, table_name in wanted.items()
        if not _table_exists(dynamodb_client, table_name)
    ]
    for logical_id, table_name in wanted.items():
        if table_name in created:
            dynamodb_client.create_table(**specs[logical_id].create_table_kwargs(table_name))
    # Created first, waited for after: an emulator keeps each new table CREATING for a while.
    for table_name in created:
        dynamodb_client.get_waiter("table_exists").wait(
            TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
    refused: dict[str, _Unsupported] = {}  # kind of setting → the refusal: asked of the endpoint once
    left_off: dict[tuple[str, str], list[str]] = {}  # (kind, setting) → the tables left without it
    for logical_id, table_name in wanted.items():
        spec = specs[logical_id]
        for kind, setting, enable in _settings(dynamodb_client, table_name, spec):
            if kind not in refused:
                try:
                    enable()
                    continue
                except _Unsupported as exc:
                    refused[kind] = exc
            left_off.setdefault((kind, setting), []).append(table_name)
    skipped = [
        SkippedSetting(refused[kind].operation, setting, refused[kind].code, tuple(tables))
        for (kind, setting), tables in left_off.items()
    ]
    for skip in skipped:
        _log.warning(skip.warning())
    return TableSetup(created=created, skipped=skipped)


def _settings(
    dynamodb_client: Any, table_name: str, spec: TableSpec
) -> list[tuple[str, str, Callable[[], None]]]:
    """The table's declared settings as (kind, setting as a warning names it, call that applies it)."""
    found: list[tuple[str, str, Callable[[], None]]] = []
    if spec.ttl_attribute:
        attribute = spec.ttl_attribute

        def enable_ttl() -> None:
            described = _call(dynamodb_client, "describe_time_to_live", TableName=table_name)
            # DynamoDB refuses to "enable" TTL that is already on, so only ask when it is not.
            if described["TimeToLiveDescription"].get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                _call(
                    dynamodb_client,
                    "update_time_to_live",
                    TableName=table_name,
                    TimeToLiveSpecification={"AttributeName": attribute, "Enabled": True},
                )

        found.append(("ttl", f"TTL on {attribute}", enable_ttl))
    if spec.point_in_time_recovery:

        def enable_pitr() -> None:
            _call(
                dynamodb_client,
                "update_continuous_backups",
                TableName=table_name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )

        found.append(("pitr", "point-in-time recovery", enable_pitr))
    return found


def create_tables(
    dynamodb_client: Any, template: Mapping[str, Any], names: Mapping[str, str] | None = None
) -> list[str]:
    """`set_up_tables`, returning only the names of the tables it created (settings the endpoint
    does not implement are skipped with a logged warning, as there)."""
    return set_up_tables(dynamodb_client, template, names).created


def _table_exists(dynamodb_client: Any, table_name: str) -> bool:
    try:
        dynamodb_client.describe_table(TableName=table_name)
    except dynamodb_client.exceptions.ResourceNotFoundException:
        return False
    return True
