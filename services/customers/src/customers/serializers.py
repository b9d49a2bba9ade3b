from __future__ import annotations

from rest_framework import serializers

from chassis.fields import StrictDateTimeField, TextField
from chassis.serializers import CachedFieldsMixin
from customers.models import Customer


class CustomerInputSerializer(serializers.Serializer):
    # Exactly what the schema says: 1-100 characters, no control character, not only white space.
    first_name = TextField(max_length=100)
    last_name = TextField(max_length=100)
    date_established = StrictDateTimeField()


class CustomerOutputSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = (
            "id",
            "first_name",
            "last_name",
            "date_established",
            "version",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields
