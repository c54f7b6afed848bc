"""Make moto's DynamoDB writes atomic, as DynamoDB's are.

moto evaluates a write's ConditionExpression and then applies the write in two separate steps, with
no lock between them. DynamoDB applies a conditional write atomically: of two PutItem calls with
`attribute_not_exists` on one key, exactly one succeeds. Under moto, with threads switching often,
both can succeed (with `sys.setswitchinterval(1e-6)`, in most rounds of two racing writers), which
shows up as duplicate orders in concurrent tests and the order soak although roamsync's own
conditional writes are correct on DynamoDB.

`install()` puts one process-wide lock around the write operations of moto's DynamoDB backend, so
each is checked and applied with no other write in between, and around each DynamoDB request moto
handles (DynamoHandler.call_action): moto's UpdateItem reads and copies the stored item before the
backend call, and a read copying an item while a write changes it in place fails with "dictionary
changed size during iteration". Every DynamoDB request is then handled one at a time, which is
slower than DynamoDB but never less atomic. It is idempotent and stays for the life of the process
(moto keeps its backends per process anyway).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

# The write operations of moto's DynamoDBBackend (moto 5.2). batch_write_item in the backend is a
# stub (the responses layer calls put_item / delete_item per item); it is wrapped in case that changes.
WRITE_OPERATIONS = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")

_lock = threading.RLock()  # re-entrant: transact_write_items calls put_item / update_item / delete_item
_MARK = "__roamsync_atomic__"


def _atomic(operation: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(operation)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return operation(*args, **kwargs)

    setattr(locked, _MARK, True)
    return locked


def _targets() -> list[tuple[type, str]]:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    found = [(DynamoDBBackend, name) for name in WRITE_OPERATIONS if hasattr(DynamoDBBackend, name)]
    return [*found, (DynamoHandler, "call_action")]


def installed() -> bool:
    """True once moto's DynamoDB writes and requests are serialised."""
    return all(getattr(getattr(owner, name), _MARK, False) for owner, name in _targets())


def install() -> None:
    """Serialise moto's DynamoDB writes and requests under one lock (once; later calls change nothing)."""
    with _lock:
        for owner, name in _targets():
            operation = getattr(owner, name)
            if not getattr(operation, _MARK, False):
                setattr(owner, name, _atomic(operation))
