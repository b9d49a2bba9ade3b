from __future__ import annotations

import uuid

from django.db.models import QuerySet

from customers.models import Customer


def customer_get(*, customer_id: uuid.UUID) -> Customer | None:
    return Customer.objects.filter(pk=customer_id).first()


def customer_list() -> QuerySet[Customer]:
    return Customer.objects.order_by("created_at", "id")
