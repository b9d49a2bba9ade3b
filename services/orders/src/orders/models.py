from __future__ import annotations

import uuid

from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone


class Order(models.Model):
    """An order. Other services learn about it through change data capture of this table.

    The table name (``orders_order``) and its columns are what Debezium captures into
    ``private_orders_order_cdc``; renaming either changes that private topic's shape.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No foreign key: customers live in another service (and database).
    customer_id = models.UUIDField(db_index=True)
    date_placed = models.DateTimeField(default=timezone.now, editable=False)
    item_count = models.PositiveIntegerField(validators=[MinValueValidator(1)])

    class Meta:
        db_table = "orders_order"
        indexes = (models.Index(fields=("date_placed", "id"), name="order_placed_idx"),)
        constraints = (
            models.CheckConstraint(
                condition=models.Q(item_count__gte=1),
                name="orders_order_item_count_positive",
            ),
        )

    def __str__(self) -> str:
        return f"Order {self.id} ({self.item_count} items)"
