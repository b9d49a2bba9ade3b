from __future__ import annotations

from rest_framework import serializers

from customers.models import Customer


class CustomerInputSerializer(serializers.Serializer):
    first_name = serializers.CharField(max_length=100)
    last_name = serializers.CharField(max_length=100)
    date_established = serializers.DateTimeField()


class CustomerOutputSerializer(serializers.ModelSerializer):
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
