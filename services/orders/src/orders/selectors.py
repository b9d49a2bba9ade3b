from __future__ import annotations

import uuid

from django.db.models import QuerySet

from orders.models import Order


def order_get(*, order_id: uuid.UUID) -> Order | None:
    return Order.objects.filter(pk=order_id).first()


def order_list(*, customer_id: uuid.UUID | None = None) -> QuerySet[Order]:
    orders = Order.objects.order_by("date_placed", "id")
    if customer_id is not None:
        orders = orders.filter(customer_id=customer_id)
    return orders
