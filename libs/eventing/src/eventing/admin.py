"""Read-only admin views of the outbox and consumer statuses.

The inbox is not listed: Django 5.2's admin cannot show models with a composite primary
key (the inbox's ``(consumer_group, event_id)``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from eventing.inbox.models import ConsumerStatus
from eventing.outbox.models import OutboxEvent


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """These tables are written by the library only."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "type", "topic", "key", "time")
    list_filter = ("type", "topic")
    search_fields = ("id", "key")
    exclude = ("payload",)


@admin.register(ConsumerStatus)
class ConsumerStatusAdmin(ReadOnlyAdmin):
    list_display = (
        "member",
        "consumer_group",
        "seen_at",
        "applied",
        "duplicates",
        "dead_lettered",
        "held",
        "lag",
    )
    list_filter = ("consumer_group",)
