"""Runs a template function in this process the way Lambda would: its handler, an event, a context.

Each function's `<CodeUri>/<module>.py` is imported under a name of its own
(`roamsync_functions.sync.app`), so two functions that both call their module `app` do not collide.
Lambda runs one invocation at a time per container, so module state (Powertools' resolver keeps the
current event and route on itself) is never shared by two running invocations. The same holds here:
an invocation runs in an idle copy of the handler module (a "container"), and when every copy is busy
a new one is imported (`roamsync_functions.sync.app_2`, ...). Finished invocations return their copy;
the first copy is the one `load_module` hands out.
The layer's `roamsync` package is imported as usual (it is on sys.path, as /opt/python is in Lambda)
and is shared by every copy. The function's CodeUri goes on sys.path too, as Lambda's task root does,
so a handler imports the packages next to it by their own names (AdminFunction's `admin_routes`); those
are imported once and shared by the copies, so they must hold no per-invocation state (a Powertools
Router's routes run on the resolver that includes them, in the copy's own handler module).
What is not emulated: a fresh process per container, the function's own template environment (the
local stack sets one process environment for every function), and the timeout itself (the context
counts down, nothing is interrupted).
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import types
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from roamsync_dev.template import (
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    REPO_ROOT,
    FunctionSpec,
    functions,
    load_template,
)

MODULE_PREFIX = "roamsync_functions"
LAYER_DIR = REPO_ROOT / "layers" / "common"

Handler = Callable[[Any, Any], Any]


@dataclass
class _Container:
    """One imported copy of a handler module and whether an invocation is running in it."""

    module: types.ModuleType
    busy: bool = False


_containers: dict[tuple[Path, str], list[_Container]] = {}
_import_lock = threading.RLock()


@cache
def default_template() -> dict[str, Any]:
    """The repository's template.yaml, parsed once per process (treat it as read-only)."""
    return load_template()


def function_spec(function_logical_id: str, template: Mapping[str, Any] | None = None) -> FunctionSpec:
    """The template's function `function_logical_id`; KeyError names the functions that exist."""
    specs = functions(template if template is not None else default_template())
    try:
        return specs[function_logical_id]
    except KeyError:
        raise KeyError(
            f"template.yaml has no local function {function_logical_id!r} (it has {', '.join(sorted(specs))})"
        ) from None


class FakeLambdaContext:
    """The attributes and method of Lambda's context object; the remaining time counts down from Timeout."""

    def __init__(
        self,
        function_name: str,
        *,
        timeout_seconds: float = 3,
        memory_limit_in_mb: int = 128,
        function_version: str = "$LATEST",
        region: str = LOCAL_REGION,
        account_id: str = LOCAL_ACCOUNT_ID,
    ) -> None:
        self.function_name = function_name
        self.function_version = function_version
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[{function_version}]{uuid.uuid4().hex}"
        self.identity: Any = None
        self.client_context: Any = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    @classmethod
    def for_function(cls, spec: FunctionSpec) -> FakeLambdaContext:
        return cls(spec.name, timeout_seconds=spec.timeout, memory_limit_in_mb=spec.memory_size)


def _ensure_layer_importable() -> None:
    # pytest and the editable install already put layers/common on sys.path; a bare interpreter may not.
    if importlib.util.find_spec("roamsync") is None:
        sys.path.insert(0, str(LAYER_DIR))


def _ensure_package(name: str) -> None:
    """Register an empty package module for each dotted parent of the handler module."""
    parts = name.split(".")
    for depth in range(1, len(parts) + 1):
        package = ".".join(parts[:depth])
        if package not in sys.modules:
            module = types.ModuleType(package)
            module.__path__ = []
            sys.modules[package] = module


def _ensure_code_dir_importable(code_dir: Path) -> None:
    # Appended, not prepended: a sibling package never shadows the layer or an installed library.
    if str(code_dir) not in sys.path:
        sys.path.append(str(code_dir))


def _module_name(code_dir: Path, module_path: str) -> str:
    slug = "".join(c if c.isalnum() else "_" for c in code_dir.name) or "root"
    return f"{MODULE_PREFIX}.{slug}.{module_path}"


def _import_copy(function_logical_id: str, spec: FunctionSpec, module_path: str) -> types.ModuleType:
    source = spec.code_dir.joinpath(*module_path.split(".")).with_suffix(".py")
    if not source.is_file():
        raise FileNotFoundError(f"{function_logical_id}: handler file {source} does not exist")
    base = _module_name(spec.code_dir, module_path)
    name, copy = base, 1
    while name in sys.modules:  # another copy, or another function whose directory has the same name
        copy += 1
        name = f"{base}_{copy}"
    _ensure_package(name.rpartition(".")[0])
    _ensure_code_dir_importable(spec.code_dir)
    import_spec = importlib.util.spec_from_file_location(name, source)
    if import_spec is None or import_spec.loader is None:
        raise ImportError(f"cannot import {source}")
    module = importlib.util.module_from_spec(import_spec)
    # Registered before it runs: pydantic resolves the module's postponed annotations through it.
    sys.modules[name] = module
    try:
        import_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _pool(function_logical_id: str, template: Mapping[str, Any] | None) -> list[_Container]:
    """The function's containers, importing the first one if there is none.

    Call with _import_lock held.
    """
    spec = function_spec(function_logical_id, template)
    module_path = spec.handler.rpartition(".")[0]
    pool = _containers.setdefault((spec.code_dir, module_path), [])
    if not pool:
        _ensure_layer_importable()
        pool.append(_Container(_import_copy(function_logical_id, spec, module_path)))
    return pool


def load_module(function_logical_id: str, template: Mapping[str, Any] | None = None) -> types.ModuleType:
    """The module holding the function's handler, in its first container (imported on first use).

    One invocation after another runs in this copy, so a test can patch it. Raises KeyError for an
    unknown function and FileNotFoundError when the handler's file is missing; whatever the module
    raises at import propagates, as a Lambda init error would.
    """
    with _import_lock:
        return _pool(function_logical_id, template)[0].module


def containers_started(function_logical_id: str, template: Mapping[str, Any] | None = None) -> int:
    """How many copies of the function's handler module have been imported so far."""
    spec = function_spec(function_logical_id, template)
    module_path = spec.handler.rpartition(".")[0]
    with _import_lock:
        return len(_containers.get((spec.code_dir, module_path), []))


@contextmanager
def _container(function_logical_id: str, template: Mapping[str, Any] | None) -> Iterator[types.ModuleType]:
    """An idle container for one invocation (a new one when all are busy), returned afterwards."""
    with _import_lock:
        pool = _pool(function_logical_id, template)
        container = next((c for c in pool if not c.busy), None)
        if container is None:
            spec = function_spec(function_logical_id, template)
            container = _Container(_import_copy(function_logical_id, spec, spec.handler.rpartition(".")[0]))
            pool.append(container)
        container.busy = True
    try:
        yield container.module
    finally:
        with _import_lock:
            container.busy = False


def _handler_of(
    function_logical_id: str, template: Mapping[str, Any] | None, module: types.ModuleType
) -> Handler:
    spec = function_spec(function_logical_id, template)
    handler = getattr(module, spec.handler.rpartition(".")[2], None)
    if not callable(handler):
        raise AttributeError(f"{function_logical_id}: {spec.handler} is not a callable in {spec.code_dir}")
    return handler  # type: ignore[no-any-return]


def load_handler(function_logical_id: str, template: Mapping[str, Any] | None = None) -> Handler:
    """The callable the function's `Handler` names (e.g. `app.lambda_handler`) in its first container.

    Raises AttributeError when the module has no such callable.
    """
    return _handler_of(function_logical_id, template, load_module(function_logical_id, template))


def new_context(function_logical_id: str, template: Mapping[str, Any] | None = None) -> FakeLambdaContext:
    """A fresh context for one invocation of the function (its name, memory and timeout)."""
    return FakeLambdaContext.for_function(function_spec(function_logical_id, template))


def invoke(
    function_logical_id: str,
    event: Any,
    template: Mapping[str, Any] | None = None,
    *,
    context: FakeLambdaContext | None = None,
) -> Any:
    """Call the function's handler with `event` and a fresh context in an idle container, and return
    what it returns.

    Exceptions from the handler propagate unchanged (Lambda would report them as an Unhandled error).
    """
    with _container(function_logical_id, template) as module:
        handler = _handler_of(function_logical_id, template, module)
        return handler(event, context or new_context(function_logical_id, template))
