from __future__ import annotations

from rest_framework import serializers

from chassis.serializers import CachedFieldsMixin


class AwardSerializer(CachedFieldsMixin, serializers.Serializer):
    points = serializers.FloatField(read_only=True)
