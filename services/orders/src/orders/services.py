from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from orders.models import Order

UPDATABLE_FIELDS = frozenset({"customer_id", "item_count"})

# No event is published here: Debezium captures the orders_order table itself
# (change data capture), and the orders translator turns those changes into
# canonical order events.


@transaction.atomic
def order_create(*, customer_id: uuid.UUID, item_count: int) -> Order:
    order = Order(customer_id=customer_id, item_count=item_count, date_placed=timezone.now())
    order.full_clean(validate_unique=False, validate_constraints=False)
    order.save(force_insert=True)
    return order


@transaction.atomic
def order_update(*, order: Order, **fields: Any) -> Order:
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"order_update() got unexpected fields: {', '.join(sorted(unknown))}")

    locked = Order.objects.select_for_update().get(pk=order.pk)
    changed = [name for name, value in fields.items() if getattr(locked, name) != value]
    if not changed:
        # An UPDATE that changes nothing would still reach Kafka through the WAL.
        return locked
    for name in changed:
        setattr(locked, name, fields[name])
    locked.full_clean(validate_unique=False, validate_constraints=False)
    locked.save(update_fields=changed)
    return locked


@transaction.atomic
def order_delete(*, order: Order) -> None:
    Order.objects.select_for_update().get(pk=order.pk).delete()
