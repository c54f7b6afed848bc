"""Reads template.yaml, the one declaration of routes, functions and tables, for the local stack and tests.

Nothing here resolves intrinsics beyond what the local stack needs: `Ref` to a table, `GetAtt` to a
function, and `Sub` of pseudo parameters.

loading: the YAML loader; document: resource and intrinsic helpers; apis, functions, tables, schedules:
the specs read from the template; table_setup: creating the tables in a local DynamoDB.
"""

from roamsync_dev.template.apis import (
    ApiRoute,
    ApiSpec,
    AuthorizerSpec,
    GatewayResponse,
    api_routes,
    apis,
    gateway_responses,
)
from roamsync_dev.template.document import (
    API_TYPE,
    DEFAULT_MEMORY_MB,
    DEFAULT_REAUTHORIZE_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    FUNCTION_TYPE,
    IMPLICIT_API,
    TABLE_TYPE,
    pseudo_parameters,
    ref_target,
    resolve_string,
)
from roamsync_dev.template.functions import FunctionSpec, functions
from roamsync_dev.template.loading import (
    DEFAULT_TEMPLATE,
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    LOCAL_STACK_NAME,
    REPO_ROOT,
    load_template,
)
from roamsync_dev.template.schedules import ScheduleSpec, schedules
from roamsync_dev.template.table_setup import (
    UNSUPPORTED_OPERATION_CODES,
    SkippedSetting,
    TableSetup,
    create_tables,
    set_up_tables,
)
from roamsync_dev.template.tables import TableSpec, table_env, table_specs

__all__ = [
    "API_TYPE",
    "DEFAULT_MEMORY_MB",
    "DEFAULT_REAUTHORIZE_SECONDS",
    "DEFAULT_TEMPLATE",
    "DEFAULT_TIMEOUT_SECONDS",
    "FUNCTION_TYPE",
    "IMPLICIT_API",
    "LOCAL_ACCOUNT_ID",
    "LOCAL_REGION",
    "LOCAL_STACK_NAME",
    "REPO_ROOT",
    "TABLE_TYPE",
    "UNSUPPORTED_OPERATION_CODES",
    "ApiRoute",
    "ApiSpec",
    "AuthorizerSpec",
    "FunctionSpec",
    "GatewayResponse",
    "ScheduleSpec",
    "SkippedSetting",
    "TableSetup",
    "TableSpec",
    "api_routes",
    "apis",
    "create_tables",
    "functions",
    "gateway_responses",
    "load_template",
    "pseudo_parameters",
    "ref_target",
    "resolve_string",
    "schedules",
    "set_up_tables",
    "table_env",
    "table_specs",
]
