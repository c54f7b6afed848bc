"""The simulator's control API under /_sim/: drive the catalog and the fault switches over HTTP.

JSON in and out, behind the simulator's own key (``Authorization: Bearer <api_key>``), and not
touched by the fault switches (an outage or a 429 never hides it, so it can always clear them).
Every refusal is ``{"error": {"code", "message"}}`` and changes nothing:

- ``GET /_sim/`` the routes below;
- ``GET /_sim/packages[?status=listed|removed]`` the package ids, sorted;
- ``POST /_sim/packages/remove`` / ``restore`` ``{"ids": [...]}``: all or nothing, unknown ids 404;
- ``POST /_sim/packages/reprice`` ``{"ids": [...], "delta": 1.5}`` or ``{"ids": [...], "price": 9.99}``;
- ``GET /_sim/faults`` the switches (``socket_faults`` as a list of objects);
- ``PUT`` / ``PATCH /_sim/faults`` ``{field: value, ...}``: sets those switches (both only set the
  fields given); an unknown field, a wrong type or a value out of range is refused (400);
  ``on_page_served`` (a Python callable) is not settable here;
- ``POST /_sim/faults/socket`` ``{SocketFault fields}``: appends a socket fault;
- ``DELETE /_sim/faults`` every switch off (``reset_faults()``);
- ``GET /_sim/orders`` every order the simulator created, oldest first.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import math
import types
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Union

from werkzeug.wrappers import Request, Response

from roamsync_dev.simulator.faults import Faults, SocketFault

if TYPE_CHECKING:
    from roamsync_dev.simulator.app import RoamifySimulator

PREFIX = "/_sim"
NOT_SETTABLE = frozenset({"on_page_served"})  # a Python callable: in-process tests only
MAX_BODY_BYTES = 1 << 20

# Bounds (inclusive) of numeric switches; a name not listed here must be >= 0.
_BOUNDS: dict[str, tuple[float, float]] = {
    "rate": (0.0, 1.0),
    "random_500_rate": (0.0, 1.0),
    "error_after_commit_rate": (0.0, 1.0),
    "cut_at": (0.0, 1.0),
    "fail_page_status": (100, 599),
    "outage_status": (100, 599),
    "proxy_error_status": (100, 599),
    "fail_page": (1, math.inf),
    "shift_after_page": (1, math.inf),
    "null_record_page": (1, math.inf),
    "page": (1, math.inf),
    "drip_bytes": (1, math.inf),
    "count": (-1, math.inf),  # -1: every matching answer
}


class ControlError(Exception):
    """A refused control request: its HTTP status, error code and message (and any extra fields)."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def _json(status: int, payload: Any) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def _error(exc: ControlError) -> Response:
    response = _json(exc.status, {"error": {"code": exc.code, "message": exc.message, **exc.extra}})
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="roamify-simulator"'
    return response


def _refuse_constant(name: str) -> Any:
    raise ControlError(400, "bad_json", f"{name} is not a JSON number")


def _body(request: Request) -> dict[str, Any]:
    """The request's JSON object; ControlError 400 when it is not one."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise ControlError(413, "too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        raise ControlError(413, "too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw or b"", parse_constant=_refuse_constant)
    except ValueError:
        raise ControlError(400, "bad_json", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ControlError(400, "bad_json", "the body must be a JSON object")
    return body


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ControlError(
            400, "unknown_field", f"unknown field(s) {unknown}; allowed: {sorted(allowed)}", fields=unknown
        )


def _ids(body: dict[str, Any]) -> list[str]:
    """The body's "ids": a non-empty list of non-empty strings, duplicates dropped, order kept."""
    ids = body.get("ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise ControlError(400, "invalid", "ids must be a non-empty list of package ids (strings)")
    return list(dict.fromkeys(ids))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ---- fault switches: (de)serialising and validating dataclass fields ------------------------------


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _check_value(name: str, hint: Any, value: Any) -> Any:
    """`value` converted to the field's type `hint`; ControlError 400 if it is not one."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        (inner,) = [o for o in options if o is not type(None)]
        return _check_value(name, inner, value)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ControlError(400, "invalid", f"{name} must be one of {list(choices)}, not {value!r}")
        return value
    if origin is list and typing.get_args(hint) == (SocketFault,):
        if not isinstance(value, list):
            raise ControlError(400, "invalid", f"{name} must be a list of socket faults")
        return [socket_fault_from_json(item, f"{name}[{n}]") for n, item in enumerate(value)]
    if hint is int or hint is float:
        return _check_number(name, hint, value)
    if hint is bool and not isinstance(value, bool):
        raise ControlError(400, "invalid", f"{name} must be true or false, not {value!r}")
    if hint is str and (not isinstance(value, str) or not value):
        raise ControlError(400, "invalid", f"{name} must be a non-empty string, not {value!r}")
    if hint not in (bool, str):
        raise ControlError(400, "not_settable", f"{name} cannot be set over HTTP")
    return value


def _check_number(name: str, hint: type, value: Any) -> int | float:
    """`value` as the int or float `hint` asks, within the field's bounds; else ControlError 400."""
    wanted = "an integer" if hint is int else "a number"
    if not _is_number(value) or (hint is int and not isinstance(value, int)):
        raise ControlError(400, "invalid", f"{name} must be {wanted}, not {value!r}")
    if not math.isfinite(value):
        raise ControlError(400, "invalid", f"{name} must be finite")
    field_name = name.rsplit(".", 1)[-1]  # "socket fault.count" is bounded as "count"
    low, high = _BOUNDS.get(field_name, (0, math.inf))
    if not low <= value <= high:
        raise ControlError(400, "invalid", f"{name} must be between {low} and {high}, not {value!r}")
    return float(value) if hint is float else int(value)


def socket_fault_from_json(value: Any, where: str = "socket fault") -> SocketFault:
    """A SocketFault from its JSON object (`kind` required); ControlError 400 on anything else."""
    if not isinstance(value, dict):
        raise ControlError(400, "invalid", f"{where} must be a JSON object")
    hints = _hints(SocketFault)
    unknown = sorted(set(value) - set(hints))
    if unknown:
        raise ControlError(
            400, "unknown_field", f"{where}: unknown field(s) {unknown}; allowed: {sorted(hints)}"
        )
    if "kind" not in value:
        raise ControlError(400, "invalid", f"{where}: kind is required (cut, drip or reset)")
    checked = {name: _check_value(f"{where}.{name}", hints[name], v) for name, v in value.items()}
    if checked.get("method"):
        checked["method"] = checked["method"].upper()
    path = checked.get("path")
    if path is not None and not path.startswith("/"):
        raise ControlError(400, "invalid", f"{where}.path must start with /, not {path!r}")
    return SocketFault(**checked)


def faults_to_json(faults: Faults) -> dict[str, Any]:
    """Every switch settable over HTTP, by its field name; socket faults as a list of objects."""
    return {
        f.name: (
            [dataclasses.asdict(s) for s in faults.socket_faults]
            if f.name == "socket_faults"
            else getattr(faults, f.name)
        )
        for f in dataclasses.fields(faults)
        if f.name not in NOT_SETTABLE
    }


def faults_changes(body: dict[str, Any]) -> dict[str, Any]:
    """The validated {field: value} changes a PUT / PATCH body asks for; ControlError 400 if any is bad."""
    hints = _hints(Faults)
    callables = sorted(set(body) & NOT_SETTABLE)
    if callables:
        message = f"{', '.join(callables)}: a Python callable, set in-process only, not over HTTP"
        raise ControlError(400, "not_settable", message)
    _only(body, set(hints) - NOT_SETTABLE)
    if not body:
        raise ControlError(400, "invalid", "name at least one switch to set")
    return {name: _check_value(name, hints[name], value) for name, value in body.items()}


# ---- the API ------------------------------------------------------------------------------------


Handler = Callable[[Request], Response]


class SimulatorControl:
    """The /_sim/ API of one simulator: a callable from a werkzeug Request to its Response."""

    def __init__(self, simulator: RoamifySimulator) -> None:
        self.simulator = simulator
        self.routes: dict[str, dict[str, Handler]] = {
            "/": {"GET": self._index},
            "/packages": {"GET": self._packages},
            "/packages/remove": {"POST": self._remove},
            "/packages/restore": {"POST": self._restore},
            "/packages/reprice": {"POST": self._reprice},
            "/faults": {
                "GET": self._faults,
                "PUT": self._set_faults,
                "PATCH": self._set_faults,
                "DELETE": self._clear_faults,
            },
            "/faults/socket": {"POST": self._add_socket_fault},
            "/orders": {"GET": self._orders},
        }

    def __call__(self, request: Request) -> Response:
        try:
            self._authorise(request)
            methods = self.routes.get(request.path.removeprefix(PREFIX))
            if methods is None:
                message = f"no control route {request.path}; GET {PREFIX}/ lists them"
                raise ControlError(404, "not_found", message)
            handler = methods.get(request.method)
            if handler is None:
                allowed = ", ".join(sorted(methods))
                error = ControlError(405, "method_not_allowed", f"{request.path} answers {allowed}")
                response = _error(error)
                response.headers["Allow"] = allowed
                return response
            return handler(request)
        except ControlError as exc:
            return _error(exc)

    def _authorise(self, request: Request) -> None:
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {self.simulator.api_key}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            message = "send the simulator's API key: Authorization: Bearer <key>"
            raise ControlError(401, "unauthorized", message)

    def _index(self, request: Request) -> Response:
        routes = [f"{m} {PREFIX}{path}" for path, methods in self.routes.items() for m in methods]
        return _json(200, {"routes": routes})

    # ---- packages

    def _packages(self, request: Request) -> Response:
        status = request.args.get("status", "listed")
        if status not in ("listed", "removed"):
            raise ControlError(400, "invalid", f"status must be listed or removed, not {status!r}")
        sim = self.simulator
        ids = sim.package_ids() if status == "listed" else sim.removed_ids()
        return _json(200, {"status": status, "count": len(ids), "ids": ids})

    def _move(self, request: Request, restore: bool) -> Response:
        body = _body(request)
        _only(body, {"ids"})
        ids = _ids(body)
        sim = self.simulator
        with sim._lock:  # the check and the move as one step: all or nothing
            known = set(sim.removed_ids() if restore else sim.package_ids())
            unknown = [i for i in ids if i not in known]
            if unknown:
                message = f"not {'removed' if restore else 'listed'}: {', '.join(unknown)}; nothing changed"
                raise ControlError(404, "unknown_packages", message, ids=unknown)
            (sim.restore_packages if restore else sim.remove_packages)(ids)
        return _json(200, {"restored" if restore else "removed": ids})

    def _remove(self, request: Request) -> Response:
        return self._move(request, restore=False)

    def _restore(self, request: Request) -> Response:
        return self._move(request, restore=True)

    def _reprice(self, request: Request) -> Response:
        body = _body(request)
        _only(body, {"ids", "delta", "price"})
        ids = _ids(body)
        if ("delta" in body) == ("price" in body):
            raise ControlError(400, "invalid", "give either delta (added to each price) or price (set)")
        key = "delta" if "delta" in body else "price"
        value = body[key]
        if not _is_number(value) or not math.isfinite(value):
            raise ControlError(400, "invalid", f"{key} must be a finite number, not {value!r}")
        if key == "price" and value < 0.01:
            raise ControlError(400, "invalid", f"price must be at least 0.01, not {value!r}")
        sim = self.simulator
        with sim._lock:
            listed = set(sim.package_ids())
            unknown = [i for i in ids if i not in listed]
            if unknown:
                message = f"not listed: {', '.join(unknown)}; nothing changed"
                raise ControlError(404, "unknown_packages", message, ids=unknown)
            for package_id in ids:
                delta = value if key == "delta" else value - sim.get_package(package_id)["price"]
                sim.change_prices([package_id], delta=delta)
            prices = {i: sim.get_package(i)["price"] for i in ids}
        return _json(200, {"prices": prices})

    # ---- faults

    def _faults_answer(self, status: int = 200) -> Response:
        sim = self.simulator
        with sim._lock:
            faults = sim.faults
            return _json(
                status,
                {
                    "faults": faults_to_json(faults),
                    "on_page_served_installed": faults.on_page_served is not None,
                },
            )

    def _faults(self, request: Request) -> Response:
        return self._faults_answer()

    def _set_faults(self, request: Request) -> Response:
        changes = faults_changes(_body(request))
        sim = self.simulator
        with sim._lock:
            for name, value in changes.items():
                setattr(sim.faults, name, value)
        return self._faults_answer()

    def _add_socket_fault(self, request: Request) -> Response:
        fault = socket_fault_from_json(_body(request))
        sim = self.simulator
        with sim._lock:
            sim.faults.socket_faults.append(fault)
        return self._faults_answer(201)

    def _clear_faults(self, request: Request) -> Response:
        self.simulator.reset_faults()
        return self._faults_answer()

    # ---- orders

    def _orders(self, request: Request) -> Response:
        orders = self.simulator.orders
        return _json(200, {"count": len(orders), "orders": orders})
