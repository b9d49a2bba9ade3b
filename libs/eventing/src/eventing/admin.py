"""Read-only admin views of the outbox, consumer statuses and dead-letter redrives.

Consumer statuses carry two actions on the selected rows' groups: list their dead letters,
and redrive the pending ones (the loop guard applies; ``eventing_dlt`` has every option).

The inbox is not listed: Django 5.2's admin cannot show models with a composite primary
key (the inbox's ``(consumer_group, event_id)``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from eventing.exceptions import EventingError
from eventing.inbox.models import ConsumerStatus
from eventing.outbox.models import OutboxEvent
from eventing.redrive import dead_letters
from eventing.redrive.models import DeadLetterRedrive

#: Dead letters listed per group by the admin action (the command lists them all).
ADMIN_LIST_LIMIT = 50


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
    actions = ("list_dead_letters", "redrive_dead_letters")

    @admin.action(description="List the dead letters of the selected groups")
    def list_dead_letters(self, request: HttpRequest, queryset: QuerySet[ConsumerStatus]) -> None:
        for group in sorted(set(queryset.values_list("consumer_group", flat=True))):
            try:
                letters = dead_letters.group_dead_letters(group)
            except EventingError as exc:
                self.message_user(request, f"{group}: {exc}", messages.ERROR)
                continue
            self.message_user(request, f"{group}: {len(letters)} dead letters")
            for letter in letters[:ADMIN_LIST_LIMIT]:
                self.message_user(
                    request,
                    f"{letter.position} [{letter.status}] {letter.event_id} {letter.event_type} "
                    f"{letter.reason} redrives={letter.redrive_count} {letter.exception}",
                )

    @admin.action(description="Redrive the pending dead letters of the selected groups")
    def redrive_dead_letters(self, request: HttpRequest, queryset: QuerySet[ConsumerStatus]) -> None:
        user = getattr(request, "user", None)
        for group in sorted(set(queryset.values_list("consumer_group", flat=True))):
            try:
                letters = dead_letters.group_dead_letters(group)
                plan = dead_letters.plan_redrive(letters, dead_letters.Selection(all=True))
                records = dead_letters.redrive(
                    group, plan, dead_letters.kafka_producer(), redriven_by=f"admin:{user}"
                )
            except EventingError as exc:
                self.message_user(request, f"{group}: {exc}", messages.ERROR)
                continue
            refused = sum(1 for p in plan if p.action.startswith("refused"))
            level = messages.WARNING if refused else messages.SUCCESS
            self.message_user(
                request, f"{group}: redrove {len(records)}, refused {refused} (loop guard)", level
            )


@admin.register(DeadLetterRedrive)
class DeadLetterRedriveAdmin(ReadOnlyAdmin):
    list_display = (
        "redriven_at",
        "consumer_group",
        "event_id",
        "event_type",
        "reason",
        "redrive_count",
        "forced",
        "outcome",
        "redriven_by",
    )
    list_filter = ("consumer_group", "outcome", "reason")
    search_fields = ("event_id",)
