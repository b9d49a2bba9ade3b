from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from customers.models import Customer
from customers.services import (
    UPDATABLE_FIELDS,
    customer_create,
    customer_delete,
    customer_update,
)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # not subscriptable at run time
    """Admin edits go through the services: they bump the version and publish too."""

    list_display = ("id", "first_name", "last_name", "date_established", "version")
    search_fields = ("first_name", "last_name")
    ordering = ("-created_at",)
    fields = (
        "id",
        "first_name",
        "last_name",
        "date_established",
        "version",
        "created_at",
        "updated_at",
    )
    readonly_fields = ("id", "version", "created_at", "updated_at")

    def save_model(
        self, request: HttpRequest, obj: Customer, form: ModelForm[Customer], change: bool
    ) -> None:
        data: dict[str, Any] = {name: form.cleaned_data[name] for name in UPDATABLE_FIELDS}
        saved = customer_update(customer=obj, **data) if change else customer_create(**data)
        # The admin reads the saved object back for its message and redirect.
        obj.pk, obj.version = saved.pk, saved.version
        obj.created_at, obj.updated_at = saved.created_at, saved.updated_at

    def delete_model(self, request: HttpRequest, obj: Customer) -> None:
        customer_delete(customer=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Customer]) -> None:
        for customer in queryset:
            customer_delete(customer=customer)
