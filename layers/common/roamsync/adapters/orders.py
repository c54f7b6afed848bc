"""The Orders table: one record per order request, written only with conditional writes.

* `create` puts the record on condition that its key does not exist yet: the first request under
  an Idempotency-Key wins, every later or concurrent one gets a domain `Conflict` and reads it.
* `save` is optimistic: it writes on condition that the stored version is the one read, and bumps
  it, so two writers (a retry and a reconciliation, say) never overwrite each other.
* The key is the order id, uuid5 of the Idempotency-Key (domain.orders.order_id_for): finding the
  order for a key is one GetItem.
"""

from __future__ import annotations

from pynamodb.exceptions import PutError, PynamoDBException

from roamsync.adapters.dynamo_models import OrderItem
from roamsync.domain.errors import Conflict, StorageError
from roamsync.domain.orders import Order

CONDITION_FAILED = "ConditionalCheckFailedException"


def _item(order: Order, version: int) -> OrderItem:
    return OrderItem(
        order_id=order.order_id,
        status=order.status.value,
        request_hash=order.request_hash,
        version=version,
        record=order.model_dump(mode="json", exclude={"version"}),
    )


def _order(item: OrderItem) -> Order:
    return Order.model_validate({**item.record, "version": int(item.version or 0)})


class OrderRepository:
    """Orders by order id, with conditional and versioned writes. Raises domain errors only."""

    def create(self, order: Order) -> Order:
        """Store a new order at version 1. Raises Conflict when the order id already exists."""
        stored = order.model_copy(update={"version": 1})
        try:
            _item(stored, 1).save(condition=OrderItem.order_id.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == CONDITION_FAILED:
                raise Conflict(f"order {order.order_id} already exists") from None
            raise StorageError(f"PutItem on Orders failed: {exc.msg}") from None
        except PynamoDBException as exc:
            raise StorageError(f"PutItem on Orders failed: {exc.msg}") from None
        return stored

    def save(self, order: Order, expected_version: int) -> Order:
        """Replace the order if its stored version is still `expected_version`; returns it at the
        next version. Raises Conflict when someone else saved it in between (or it does not exist)."""
        version = expected_version + 1
        stored = order.model_copy(update={"version": version})
        try:
            _item(stored, version).save(condition=OrderItem.version == expected_version)
        except PutError as exc:
            if exc.cause_response_code == CONDITION_FAILED:
                raise Conflict(
                    f"order {order.order_id} changed since version {expected_version} was read"
                ) from None
            raise StorageError(f"PutItem on Orders failed: {exc.msg}") from None
        except PynamoDBException as exc:
            raise StorageError(f"PutItem on Orders failed: {exc.msg}") from None
        return stored

    def get(self, order_id: str) -> Order | None:
        """The order (strongly consistent read), or None."""
        try:
            return _order(OrderItem.get(order_id, consistent_read=True))
        except OrderItem.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"GetItem on Orders failed: {exc.msg}") from None
