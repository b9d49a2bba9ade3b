from __future__ import annotations

import uuid

from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from points.models import CustomerReadModel, OrderReadModel

ITEMS_PER_POINT = 42


def award_get(*, customer_id: uuid.UUID) -> float | None:
    """Points of a customer: items in their live orders / 42; None if unknown or deleted."""
    items = (
        OrderReadModel.objects.filter(customer_id=OuterRef("customer_id"), deleted=False)
        .order_by()
        .values("customer_id")
        .annotate(total=Sum("item_count"))
        .values("total")
    )
    total = (
        CustomerReadModel.objects.filter(customer_id=customer_id, deleted=False)
        .annotate(items=Coalesce(Subquery(items), 0))
        .values_list("items", flat=True)
        .first()
    )
    if total is None:
        return None
    return int(total) / ITEMS_PER_POINT
