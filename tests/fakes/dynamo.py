"""A BatchWriteItem wrapper that counts every call and item and can inject UnprocessedItems.

moto never returns UnprocessedItems, so this holds some items back from the real call and reports
them unprocessed, exactly as DynamoDB does under throttling: they are not written until resent.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

Send = Callable[[list[dict[str, Any]]], dict[str, Any]]


class CountingBatchSend:
    def __init__(
        self, real: Send, table_name: str, *, unprocessed_per_call: int = 0, inject_calls: int = 0
    ) -> None:
        self.real = real
        self.table_name = table_name
        self.unprocessed_per_call = unprocessed_per_call
        self.inject_calls = inject_calls  # how many calls get items held back (-1: every call)
        self.calls = 0
        self.items_sent = 0
        self.batch_sizes: list[int] = []
        self.items_held_back = 0

    def __call__(self, requests: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        self.batch_sizes.append(len(requests))
        assert len(requests) <= 25, "BatchWriteItem takes at most 25 items"
        held: list[dict[str, Any]] = []
        if self.unprocessed_per_call and (self.inject_calls < 0 or self.calls <= self.inject_calls):
            held = requests[-self.unprocessed_per_call :]
            requests = requests[: -self.unprocessed_per_call]
        self.items_held_back += len(held)
        response = self.real(requests) if requests else {}
        self.items_sent += len(requests)
        if held:
            response = {**response, "UnprocessedItems": {self.table_name: held}}
        return response


def dynamodb_number(value: Decimal) -> Decimal:
    """A number as DynamoDB stores and answers it: normalised, so 19.90 reads back as 19.9 and
    10.000 as 10 (never in exponent form)."""
    return Decimal(format(value.normalize(), "f"))


def as_stored(model: M) -> M:
    """`model` as it reads back from a DynamoDB item: every Decimal field normalised."""
    update = {
        name: dynamodb_number(value) for name, value in model.__dict__.items() if isinstance(value, Decimal)
    }
    return model.model_copy(update=update) if update else model
