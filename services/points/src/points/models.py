"""The points read model: what this service knows of customers and orders, from events.

Rows are written only by ``points.services`` (called by the event handlers). A deleted
aggregate keeps a tombstone row (``deleted=True``, with its version), so an older state
arriving later cannot bring it back. There is no foreign key between the tables: an
order may arrive before its customer.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now


class CustomerReadModel(models.Model):
    customer_id = models.UUIDField(primary_key=True)
    version = models.BigIntegerField()
    deleted = models.BooleanField(default=False, db_default=False)
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "points_customer"

    def __str__(self) -> str:
        return f"customer {self.customer_id} v{self.version}"


class OrderReadModel(models.Model):
    order_id = models.UUIDField(primary_key=True)
    customer_id = models.UUIDField(db_index=True)
    item_count = models.BigIntegerField()
    version = models.BigIntegerField()
    deleted = models.BooleanField(default=False, db_default=False)
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "points_order"

    def __str__(self) -> str:
        return f"order {self.order_id} v{self.version}"
