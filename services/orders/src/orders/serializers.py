from __future__ import annotations

from typing import Any

from rest_framework import serializers

from orders.models import Order

MAX_ITEM_COUNT = 2_147_483_647  # the column is a PostgreSQL integer


class ItemCountField(serializers.IntegerField):
    """An integer that refuses JSON booleans (``True`` would otherwise count as 1)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class UUIDStringField(serializers.UUIDField):
    """A UUID given as a string (DRF would also turn the number 42 into a UUID)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class OrderInputSerializer(serializers.Serializer):
    customer_id = UUIDStringField()
    item_count = ItemCountField(min_value=1, max_value=MAX_ITEM_COUNT)


class OrderFilterSerializer(serializers.Serializer):
    customer_id = serializers.UUIDField(required=False)


class OrderOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Order
        fields = ("id", "customer_id", "date_placed", "item_count")
        read_only_fields = fields
