from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from orders.models import Order
from orders.services import UPDATABLE_FIELDS, order_create, order_delete, order_update


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # not subscriptable at run time
    list_display = ("id", "customer_id", "date_placed", "item_count")
    search_fields = ("=id", "=customer_id")
    ordering = ("-date_placed",)
    fields = ("id", "customer_id", "date_placed", "item_count")
    readonly_fields = ("id", "date_placed")

    def save_model(self, request: HttpRequest, obj: Order, form: ModelForm[Order], change: bool) -> None:
        data: dict[str, Any] = {name: form.cleaned_data[name] for name in UPDATABLE_FIELDS}
        saved = order_update(order=obj, **data) if change else order_create(**data)
        obj.pk, obj.date_placed = saved.pk, saved.date_placed

    def delete_model(self, request: HttpRequest, obj: Order) -> None:
        order_delete(order=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        for order in queryset:
            order_delete(order=order)
