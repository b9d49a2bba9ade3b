from __future__ import annotations

from rest_framework import serializers


class AwardSerializer(serializers.Serializer):
    points = serializers.FloatField(read_only=True)
