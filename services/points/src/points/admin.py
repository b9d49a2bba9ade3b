from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from points.models import CustomerReadModel, OrderReadModel


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # not subscriptable at run time
    """The read model is written by event handlers only; the admin just shows it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CustomerReadModel)
class CustomerReadModelAdmin(ReadOnlyAdmin):
    list_display = ("customer_id", "version", "deleted", "updated_at")
    list_filter = ("deleted",)
    search_fields = ("=customer_id",)


@admin.register(OrderReadModel)
class OrderReadModelAdmin(ReadOnlyAdmin):
    list_display = ("order_id", "customer_id", "item_count", "version", "deleted")
    list_filter = ("deleted",)
    search_fields = ("=order_id", "=customer_id")
