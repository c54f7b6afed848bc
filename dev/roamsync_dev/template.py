"""Reads template.yaml, the one declaration of routes, functions and tables, for the local stack and tests.

CloudFormation short tags (`!Ref`, `!GetAtt`, `!Sub`, ...) load as their long dict forms
(`{"Ref": ...}`, `{"Fn::GetAtt": [...]}`, `{"Fn::Sub": ...}`), so the result reads like the JSON
template CloudFormation itself sees. Nothing here resolves intrinsics beyond what the local stack
needs: `Ref` to a table, `GetAtt` to a function, and `Sub` of pseudo parameters.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

LOCAL_STACK_NAME = "roamsync-local"
LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "000000000000"

FUNCTION_TYPE = "AWS::Serverless::Function"
API_TYPE = "AWS::Serverless::Api"
TABLE_TYPE = "AWS::DynamoDB::Table"
# The API SAM creates for Api events that name no RestApiId.
IMPLICIT_API = "ServerlessRestApi"

# SAM's defaults when neither the function nor Globals says otherwise.
DEFAULT_TIMEOUT_SECONDS = 3
DEFAULT_MEMORY_MB = 128
DEFAULT_REAUTHORIZE_SECONDS = 300


# ---- loading -------------------------------------------------------------------------------------


class _TemplateLoader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    """SafeLoader that turns CloudFormation short tags into their long forms."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type,unused-ignore]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # `!GetAtt Res.Attr.Sub` is `["Res", "Attr.Sub"]`: only the first dot separates.
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{tag_suffix}": value}


_TemplateLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | Path | None = None) -> dict[str, Any]:
    """Parse a SAM template (default: the repository's template.yaml) with short tags in long form.

    Raises FileNotFoundError when the file is missing and yaml.YAMLError when it does not parse.
    """
    text = Path(path or DEFAULT_TEMPLATE).read_text(encoding="utf-8")
    loaded = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(loaded, dict) or not isinstance(loaded.get("Resources"), dict):
        raise ValueError(f"{path or DEFAULT_TEMPLATE} is not a CloudFormation template (no Resources)")
    return loaded


# ---- small helpers -------------------------------------------------------------------------------


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


# ---- APIs and routes -----------------------------------------------------------------------------


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


# ---- functions -----------------------------------------------------------------------------------


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


# ---- tables --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableSpec:
    """A DynamoDB table as boto3's `create_table` wants it, plus what needs calls of its own."""

    logical_id: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    global_secondary_indexes: list[dict[str, Any]]
    local_secondary_indexes: list[dict[str, Any]]
    billing_mode: str
    provisioned_throughput: dict[str, int] | None
    ttl_attribute: str | None  # TimeToLiveSpecification's attribute, when enabled
    point_in_time_recovery: bool

    def create_table_kwargs(self, table_name: str) -> dict[str, Any]:
        """Keyword arguments for `dynamodb_client.create_table` under `table_name`."""
        kwargs: dict[str, Any] = {
            "TableName": table_name,
            "KeySchema": [dict(k) for k in self.key_schema],
            "AttributeDefinitions": [dict(a) for a in self.attribute_definitions],
            "BillingMode": self.billing_mode,
        }
        if self.global_secondary_indexes:
            kwargs["GlobalSecondaryIndexes"] = [dict(i) for i in self.global_secondary_indexes]
        if self.local_secondary_indexes:
            kwargs["LocalSecondaryIndexes"] = [dict(i) for i in self.local_secondary_indexes]
        if self.provisioned_throughput:
            kwargs["ProvisionedThroughput"] = dict(self.provisioned_throughput)
        return kwargs


def _index(spec: Mapping[str, Any]) -> dict[str, Any]:
    index: dict[str, Any] = {
        "IndexName": spec["IndexName"],
        "KeySchema": [
            {"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in spec["KeySchema"]
        ],
        "Projection": dict(spec.get("Projection") or {"ProjectionType": "ALL"}),
    }
    if spec.get("ProvisionedThroughput"):
        index["ProvisionedThroughput"] = dict(spec["ProvisionedThroughput"])
    return index


def table_specs(template: Mapping[str, Any]) -> dict[str, TableSpec]:
    """Every `AWS::DynamoDB::Table` of the template, by logical id."""
    specs: dict[str, TableSpec] = {}
    for logical_id, resource in _resources(template, TABLE_TYPE).items():
        props = _properties(resource)
        ttl = props.get("TimeToLiveSpecification") or {}
        pitr = props.get("PointInTimeRecoverySpecification") or {}
        throughput = props.get("ProvisionedThroughput")
        specs[logical_id] = TableSpec(
            logical_id=logical_id,
            key_schema=[
                {"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in props["KeySchema"]
            ],
            attribute_definitions=[
                {"AttributeName": a["AttributeName"], "AttributeType": a["AttributeType"]}
                for a in props["AttributeDefinitions"]
            ],
            global_secondary_indexes=[_index(i) for i in props.get("GlobalSecondaryIndexes") or ()],
            local_secondary_indexes=[_index(i) for i in props.get("LocalSecondaryIndexes") or ()],
            billing_mode=str(props.get("BillingMode", "PROVISIONED")),
            provisioned_throughput=dict(throughput) if throughput else None,
            ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled") is True else None,
            point_in_time_recovery=pitr.get("PointInTimeRecoveryEnabled") is True,
        )
    return specs


def table_env(template: Mapping[str, Any]) -> dict[str, str]:
    """Globals' variables that name a table: env var → table logical id (PACKAGES_TABLE → PackagesTable)."""
    tables = _resources(template, TABLE_TYPE)
    variables = (_globals(template, "Function").get("Environment") or {}).get("Variables") or {}
    return {
        name: value["Ref"]
        for name, value in variables.items()
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in tables
    }


# What a DynamoDB-compatible emulator answers for an operation it does not implement: dynalite sends
# HTTP 400 with this code, as AWS's own service framework does for an unknown operation (DynamoDB
# itself implements every call made here).
UNSUPPORTED_OPERATION_CODES = frozenset({"UnknownOperationException"})

_log = logging.getLogger(__name__)


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


# ---- schedules -----------------------------------------------------------------------------------


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
