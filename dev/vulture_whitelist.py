"""Names vulture (make lint) reports as unused that are used by something it cannot see.

Each line is one name with the reason it stays. Decorated entry points (Powertools routes and exception
handlers, click commands, pydantic validators, pytest fixtures) and framework hooks are covered by
[tool.vulture] in pyproject.toml instead.
"""

# ruff: noqa: F821, B018
# mypy: ignore-errors

# Context-manager protocol: __exit__ takes these three whether it reads them or not.
exc_type  # __exit__ argument
tb  # __exit__ argument
exc_info  # __exit__(*exc_info)

# pynamodb: hooks and settings pynamodb reads.
deserialize  # Attribute.deserialize, called by pynamodb when it reads an item
_connection  # reset so pynamodb builds a connection with the new Meta settings
max_retry_attempts  # Meta setting read by pynamodb's connection
connect_timeout_seconds  # Meta setting read by pynamodb's connection
read_timeout_seconds  # Meta setting read by pynamodb's connection

# urllib3: class attributes the pool manager reads to build connections.
ConnectionCls  # HTTPConnectionPool's connection class
pool_classes_by_scheme  # PoolManager's pool class per scheme

# The local Lambda context: the attributes of AWS's LambdaContext, read by Powertools and handlers.
invoked_function_arn  # LambdaContext attribute
aws_request_id  # LambdaContext attribute
log_group_name  # LambdaContext attribute
log_stream_name  # LambdaContext attribute
client_context  # LambdaContext attribute
__path__  # marks a synthetic module as a package for the import system

# http.server / moto: attributes and overrides the frameworks read.
close_connection  # BaseHTTPRequestHandler ends keep-alive when set
_server_entry  # ThreadedMotoServer's thread target, overridden to install a quiet handler

# Settings fields read by name: the adapters look tables up by field name (dynamo_models.TABLES).
my_packages_table  # Settings field, read through getattr
validation_cache_table  # Settings field, read through getattr
runs_table  # Settings field, read through getattr
orders_table  # Settings field, read through getattr

# Ports kept for the use case that will take them.
AsyncInvoker  # the port of a sync run's hand-off to the worker; no service takes it yet

# Signal handlers take (signum, frame).
signum  # signal handler argument
frame  # signal handler argument

# Unused today, in modules due to be split into packages (simulator, template reader):
# removed with that split rather than edited under it.
set_requirements  # simulator/app.py: no caller
stage_name  # template.py ApiSpec field: parsed, never read
