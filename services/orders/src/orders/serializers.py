from __future__ import annotations

from rest_framework import serializers

from chassis.fields import StrictIntegerField, StrictUUIDField
from chassis.serializers import CachedFieldsMixin
from orders.models import Order

MAX_ITEM_COUNT = 2_147_483_647  # the column is a PostgreSQL integer


class OrderInputSerializer(serializers.Serializer):
    # Exactly what the schema says: a UUID string, a JSON integer (not true, "3" or 3.0) in range.
    customer_id = StrictUUIDField()
    item_count = StrictIntegerField(min_value=1, max_value=MAX_ITEM_COUNT)


class OrderFilterSerializer(serializers.Serializer):
    customer_id = StrictUUIDField(required=False)


class OrderOutputSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Order
        fields = ("id", "customer_id", "date_placed", "item_count")
        read_only_fields = fields
