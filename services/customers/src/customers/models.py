from __future__ import annotations

import uuid

from django.db import models


class Customer(models.Model):
    """A customer; written only by ``customers.services``, which publish each change."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_established = models.DateTimeField()
    # Aggregate version carried by every event: 1 at creation, +1 per update.
    version = models.PositiveBigIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = (models.Index(fields=("created_at", "id"), name="customer_created_idx"),)
        constraints = (
            models.CheckConstraint(
                condition=~models.Q(first_name="") & ~models.Q(last_name=""),
                name="customers_customer_names_not_empty",
            ),
        )

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} ({self.id})"
