"""The local stack: DynamoDB, the Roamify simulator and the gateway on 127.0.0.1, no Docker.

`LocalStack.start()`:
1. DynamoDB: the endpoint in AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL when set, else an embedded
   moto server (fresh: its in-process state is reset on start), which also serves EventBridge. When
   only DynamoDB is elsewhere (AWS_ENDPOINT_URL_DYNAMODB, no AWS_ENDPOINT_URL / _EVENTS: an emulator
   such as dynalite, which has no EventBridge), an embedded moto on a free port serves EventBridge alone.
2. Roamify: ROAMIFY_BASE_URL (+ ROAMIFY_API_KEY) when set, else the simulator, whose control API
   (/_sim/, behind the same key) `roamsync --local sim ...` drives.
3. The process environment the handlers read (tables, endpoints, tokens, Powertools switches); the
   previous values come back on `stop()`.
4. The template's tables (created if missing, with TTL and point-in-time recovery). An emulator that
   does not implement a setting's call (dynalite) gets that setting skipped, with one warning line
   each, logged and in the banner (`table_warnings`); any other refusal fails the start.
5. A first sync, in-process, through the same service the handlers call.
6. The gateway over every route of template.yaml, which also answers Lambda Invoke calls.

A failed first sync does not stop the stack from starting: the banner says what went wrong.
moto keeps its state per process, so run one embedded stack per process at a time (a second one
started while the first runs reuses the first's endpoints from the environment instead).
With `state_file`, the environment a CLI needs is written there (mode 0600) and removed on stop.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from roamsync_dev import lambda_runtime
from roamsync_dev.gateway import Gateway, RunningGateway, serve_gateway
from roamsync_dev.template import LOCAL_REGION, schedules, set_up_tables, table_env

HOST = "127.0.0.1"
DEFAULT_DYNAMODB_PORT = 4566
DEFAULT_SIMULATOR_PORT = 4010
DEFAULT_GATEWAY_PORT = 3000
DEFAULT_SIMULATOR_SIZE = 500
DEFAULT_SIMULATOR_SEED = 7
DEFAULT_REGION = LOCAL_REGION
SYNC_FUNCTION = "SyncFunction"
SYNC_ROUTE = "/api/admin/packages/sync"


def _embedded_moto_server(host: str, port: int) -> Any:
    """moto's ThreadedMotoServer, without its per-request access log and with a fast shutdown.

    Its DynamoDB writes are made atomic (roamsync_dev.moto_atomic), as DynamoDB's are.
    """
    from roamsync_dev import moto_atomic

    moto_atomic.install()
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class QuietHandler(MotoRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            return

    class QuietMotoServer(ThreadedMotoServer):
        # ThreadedMotoServer._server_entry (moto 5.2) with the quiet handler: every DynamoDB call
        # would otherwise print a line and drown the gateway's own log.
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=QuietHandler)
            self._server_ready_event.set()
            self._server.serve_forever(0.05)

        def stop(self) -> None:
            super().stop()
            if self._server is not None:  # ThreadedMotoServer.stop() leaves its listening socket open
                self._server.server_close()

    return QuietMotoServer(ip_address=host, port=port, verbose=False)


def start_embedded_dynamodb(host: str = HOST, port: int = 0, *, reset: bool = True) -> tuple[Any, str]:
    """A quiet, empty moto server on host:port (0 picks a free port): (server, endpoint URL).

    moto keeps its state per process, so it is reset: a new embedded DynamoDB starts empty, as a new
    process would. The local stack and the benchmarks start theirs here; `server.stop()` ends it.
    With `reset=False` the process's moto state is left as it is (for a server that only holds what
    its caller writes over anyway, such as the schedule rule).
    """
    server = _embedded_moto_server(host, port)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    endpoint = f"http://{bound_host}:{bound_port}"
    if not reset:
        return server, endpoint
    reset_request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310 - loopback
    with urllib.request.urlopen(reset_request, timeout=10):  # noqa: S310 - loopback
        pass
    return server, endpoint


def _forget_wiring() -> None:
    """Make the handlers re-read the environment: fresh settings, fresh container."""
    from roamsync.container import set_container
    from roamsync.settings import reset_settings

    reset_settings()
    set_container(None)


class LocalStack:
    """DynamoDB + Roamify + gateway for one developer machine or one test module."""

    def __init__(
        self,
        *,
        host: str = HOST,
        dynamodb_port: int = DEFAULT_DYNAMODB_PORT,
        simulator_port: int = DEFAULT_SIMULATOR_PORT,
        gateway_port: int = DEFAULT_GATEWAY_PORT,
        catalog_size: int = DEFAULT_SIMULATOR_SIZE,
        seed: int = DEFAULT_SIMULATOR_SEED,
        template: Mapping[str, Any] | None = None,
        table_names: Mapping[str, str] | None = None,
        first_sync: bool = True,
        access_log: bool = True,
        state_file: str | Path | None = None,
    ) -> None:
        self.host = host
        self.dynamodb_port = dynamodb_port
        self.simulator_port = simulator_port
        self.gateway_port = gateway_port
        self.catalog_size = catalog_size
        self.seed = seed
        self.state_file = Path(state_file) if state_file is not None else None
        self.template = template if template is not None else lambda_runtime.default_template()
        self._table_names_override = dict(table_names or {})
        self.run_first_sync = first_sync
        self.access_log = access_log

        self.started = False
        self.dynamodb_server: Any = None  # moto's ThreadedMotoServer when embedded, else None
        self.dynamodb_endpoint: str | None = None
        self.events_server: Any = None  # moto for EventBridge alone, when only DynamoDB is elsewhere
        self.events_endpoint: str | None = None  # where the stack created the schedule rule, if anywhere
        self.simulator: Any = None  # RoamifySimulator when embedded, else None
        self.simulator_server: Any = None
        self.roamify_base_url: str | None = None
        self.roamify_api_key: str | None = None
        self.gateway: Gateway | None = None
        self.gateway_server: RunningGateway | None = None
        self.admin_token = ""
        self.client_token = ""
        self.region = DEFAULT_REGION
        self.table_env: dict[str, str] = table_env(self.template)
        self.table_names: dict[str, str] = {}  # table logical id → local table name
        self.first_sync: dict[str, Any] | None = None  # the first sync's run summary
        self.first_sync_error: str | None = None
        self.table_warnings: list[str] = []  # the template's table settings the endpoint could not apply
        self._saved_env: dict[str, str | None] = {}
        self._wrote_state_file = False

    # ---- lifecycle -------------------------------------------------------------------------------

    @property
    def gateway_url(self) -> str | None:
        return self.gateway_server.url if self.gateway_server else None

    def start(self) -> LocalStack:
        """Start everything (see the module docstring); on any failure, undo what was started and raise."""
        if self.started:
            return self
        self.started = True
        try:
            self._start_dynamodb()
            self._start_roamify()
            self._configure_environment()
            self._create_tables()
            self._create_schedules()
            if self.run_first_sync:
                self._first_sync()
            self._start_gateway()
            self._write_state_file()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop what start() started and restore the environment it changed. Safe to call twice."""
        if self.state_file is not None and self._wrote_state_file:
            self.state_file.unlink(missing_ok=True)
            self._wrote_state_file = False
        if self.gateway_server is not None:
            self.gateway_server.stop()
            self.gateway_server = None
        if self.gateway is not None:
            self.gateway.close(timeout=10)
        if self.simulator_server is not None:
            self.simulator_server.stop()
            self.simulator_server = None
        if self.dynamodb_server is not None:
            self.dynamodb_server.stop()
            self.dynamodb_server = None
        if self.events_server is not None:
            self.events_server.stop()
            self.events_server = None
        self._restore_environment()
        self.started = False

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- the parts -------------------------------------------------------------------------------

    def _start_dynamodb(self) -> None:
        env = os.environ
        self.events_endpoint = None
        external = env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("AWS_ENDPOINT_URL")
        if not external:
            self.dynamodb_server, self.dynamodb_endpoint = start_embedded_dynamodb(
                self.host, self.dynamodb_port
            )
            self.events_endpoint = self.dynamodb_endpoint
            return
        self.dynamodb_endpoint = external
        if not (env.get("AWS_ENDPOINT_URL_EVENTS") or env.get("AWS_ENDPOINT_URL")):
            # A DynamoDB emulator has no EventBridge, and the SDK would otherwise send the schedule
            # commands to AWS itself. Not reset: another stack of this process may be using moto.
            self.events_server, self.events_endpoint = start_embedded_dynamodb(self.host, 0, reset=False)

    def _start_roamify(self) -> None:
        external = os.environ.get("ROAMIFY_BASE_URL")
        if external:
            self.roamify_base_url = external
            self.roamify_api_key = os.environ.get("ROAMIFY_API_KEY")
            return
        from roamsync_dev.simulator import RoamifySimulator, start_server

        self.simulator = RoamifySimulator(size=self.catalog_size, seed=self.seed)
        self.simulator_server = start_server(self.simulator, host=self.host, port=self.simulator_port)
        self.roamify_base_url = self.simulator_server.url
        self.roamify_api_key = self.simulator.api_key

    def _local_table_name(self, logical_id: str) -> str:
        return self._table_names_override.get(logical_id, logical_id)

    def _configure_environment(self) -> None:
        env = os.environ
        self.region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        self.admin_token = env.get("ADMIN_TOKEN") or secrets.token_urlsafe(24)
        self.client_token = env.get("CLIENT_TOKEN") or secrets.token_urlsafe(24)
        self.table_names = {lid: self._local_table_name(lid) for lid in self.table_env.values()}
        values: dict[str, str] = {
            **{name: self.table_names[lid] for name, lid in self.table_env.items()},
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": env.get("AWS_ACCESS_KEY_ID") or "local",
            "AWS_SECRET_ACCESS_KEY": env.get("AWS_SECRET_ACCESS_KEY") or "local",
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_endpoint or "",
            "ROAMIFY_BASE_URL": self.roamify_base_url or "",
            "ADMIN_TOKEN": self.admin_token,
            "CLIENT_TOKEN": self.client_token,
            "SYNC_FUNCTION_NAME": SYNC_FUNCTION,
            "SCHEDULE_RULE_NAME": next((s.rule_name for s in schedules(self.template)), ""),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "Roamsync",
            "POWERTOOLS_SERVICE_NAME": "roamsync",
        }
        if self.roamify_api_key:
            values["ROAMIFY_API_KEY"] = self.roamify_api_key
        self._set_environment(values)

    def _set_environment(self, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            if name not in self._saved_env:
                self._saved_env[name] = os.environ.get(name)
            os.environ[name] = value
        _forget_wiring()

    def _restore_environment(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if self._saved_env:
            _forget_wiring()
        self._saved_env = {}

    def dynamodb_client(self) -> Any:
        """A boto3 DynamoDB client on the stack's endpoint."""
        import boto3

        return boto3.client("dynamodb", region_name=self.region, endpoint_url=self.dynamodb_endpoint)

    def _create_tables(self) -> None:
        setup = set_up_tables(self.dynamodb_client(), self.template, self.table_names)
        self.table_warnings = setup.warnings

    def _create_schedules(self) -> None:
        """The template's schedule rules, in the embedded moto (its EventBridge), so `roamsync
        schedule` and sync-status work locally. Nothing fires them: run the nightly with
        `roamsync invoke SyncFunction -e events/schedule.json`. An EventBridge endpoint already in the
        environment (AWS_ENDPOINT_URL_EVENTS / AWS_ENDPOINT_URL) is left alone."""
        if self.events_endpoint is None:
            return
        import boto3

        self._set_environment({"AWS_ENDPOINT_URL_EVENTS": self.events_endpoint})
        events = boto3.client("events", region_name=self.region, endpoint_url=self.events_endpoint)
        for schedule in schedules(self.template):
            events.put_rule(
                Name=schedule.rule_name,
                ScheduleExpression=schedule.expression,
                State="ENABLED" if schedule.enabled else "DISABLED",
                Description=f"nightly run of {schedule.function} (local stack; nothing fires it)",
            )

    def _first_sync(self) -> None:
        from roamsync.container import get_container, sync_catalog
        from roamsync.domain.runs import Trigger

        try:
            outcome = sync_catalog(get_container(), Trigger.CLI)
        except Exception as exc:  # the stack is still useful without a catalog; the banner says why
            self.first_sync_error = f"{type(exc).__name__}: {exc}"
            return
        self.first_sync = outcome.run.summary()
        if outcome.run.error:
            self.first_sync_error = outcome.run.error

    def _start_gateway(self) -> None:
        self.gateway = Gateway(self.template)
        self.gateway_server = serve_gateway(
            self.gateway, self.host, self.gateway_port, access_log=self.access_log
        )
        self._set_environment({"AWS_ENDPOINT_URL_LAMBDA": self.gateway_server.url})

    # ---- what the developer sees -----------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        """The variables another shell needs to run the CLI against this stack."""
        return {name: os.environ[name] for name in self._saved_env if name in os.environ}

    @property
    def simulator_url(self) -> str | None:
        """The embedded simulator's base URL (its control API under /_sim/); None when Roamify is external."""
        return self.simulator_server.url if self.simulator_server is not None else None

    def state(self) -> dict[str, Any]:
        """What another process needs to use this stack: `env` (see environment()) and the URLs
        (`simulatorUrl` is null when ROAMIFY_BASE_URL named another Roamify)."""
        return {
            "env": self.environment(),
            "gatewayUrl": self.gateway_url,
            "dynamodbEndpoint": self.dynamodb_endpoint,
            "roamifyBaseUrl": self.roamify_base_url,
            "simulatorUrl": self.simulator_url,
            "pid": os.getpid(),
        }

    def _write_state_file(self) -> None:
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        # It holds both tokens: readable by this user only.
        descriptor = os.open(self.state_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(self.state(), handle, indent=2)
        self._wrote_state_file = True

    def banner(self) -> str:
        """URLs, tokens and a ready-to-paste curl for the sync route."""
        if not self.started or self.gateway_url is None:
            return "roamsync local stack: not running"
        dynamodb_origin = "embedded moto" if self.dynamodb_server is not None else "external"
        if self.simulator is not None:
            roamify_origin = f"simulator, {self.catalog_size} packages, seed {self.seed}"
        else:
            roamify_origin = "external"
        if self.first_sync is not None:
            counts = ", ".join(f"{k} {v}" for k, v in self.first_sync["counts"].items())
            sync_line = f"{self.first_sync['status']} ({counts})"
        else:
            sync_line = "not run"
        if self.first_sync_error:
            sync_line += f" - {self.first_sync_error}"
        curl = " ".join(
            [
                "curl -sS -X POST",
                shlex.quote(self.gateway_url + SYNC_ROUTE),
                "-H",
                shlex.quote(f"Authorization: Bearer {self.admin_token}"),
                "-H 'Content-Type: application/json' -d '{\"dryRun\": true}'",
            ]
        )
        exports = "\n".join(f"  export {k}={shlex.quote(v)}" for k, v in sorted(self.environment().items()))
        routes = self.gateway.routes if self.gateway else []
        return "\n".join(
            [
                "roamsync local stack",
                f"  gateway       {self.gateway_url}  ({len(routes)} routes from template.yaml)",
                f"  api docs      {self.gateway_url}/docs  (Swagger UI over openapi.json)",
                f"  dynamodb      {self.dynamodb_endpoint}  ({dynamodb_origin})",
                *(
                    [f"  eventbridge   {self.events_endpoint}  (embedded moto: the nightly rule)"]
                    if self.events_server is not None
                    else []
                ),
                *(f"  warning       {line}" for line in self.table_warnings),
                f"  roamify       {self.roamify_base_url}  ({roamify_origin})",
                *(
                    [f"  simulator     {self.simulator_url}/_sim/  (`roamsync --local sim --help`)"]
                    if self.simulator_url is not None
                    else []
                ),
                f"  admin token   {self.admin_token}",
                f"  client token  {self.client_token}",
                f"  first sync    {sync_line}",
                "",
                "Start a sync (dry run):",
                f"  {curl}",
                "",
                *(
                    [f"The CLI finds this stack with `roamsync --local ...` (state in {self.state_file})."]
                    if self.state_file is not None
                    else []
                ),
                "Or set these in another shell:",
                exports,
                "",
                "Ctrl-C stops the stack.",
            ]
        )

    def run_forever(self) -> None:
        """Start (if needed), print the banner and serve until Ctrl-C."""
        self.start()
        try:
            print(self.banner(), flush=True)
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\nstopping the local stack", flush=True)
        finally:
            self.stop()
