from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from customers import events
from customers.models import Customer

UPDATABLE_FIELDS = frozenset({"first_name", "last_name", "date_established"})


def _require_aware(value: datetime) -> None:
    if timezone.is_naive(value):
        raise ValidationError({"date_established": ["Must include a time zone."]})


def _publish_state(customer: Customer) -> None:
    events.publish_customer_event(
        events.CUSTOMER_ENTITY_STATE,
        events.customer_state_payload(customer, version=customer.version),
    )


def _publish_deleted(customer: Customer) -> None:
    # ``customer`` is the row as it was just before deletion. Deletion is a change
    # too, so it carries that last state under the next version.
    events.publish_customer_event(
        events.CUSTOMER_ENTITY_DELETED,
        events.customer_state_payload(customer, version=customer.version + 1),
    )


@transaction.atomic
def customer_create(*, first_name: str, last_name: str, date_established: datetime) -> Customer:
    _require_aware(date_established)
    customer = Customer(first_name=first_name, last_name=last_name, date_established=date_established)
    customer.full_clean(validate_unique=False, validate_constraints=False)
    customer.save(force_insert=True)
    _publish_state(customer)
    return customer


@transaction.atomic
def customer_update(*, customer: Customer, **fields: Any) -> Customer:
    """Apply ``fields`` and bump the version.

    An update that changes no value is a no-op: same version, nothing published.
    """
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"customer_update() got unexpected fields: {', '.join(sorted(unknown))}")
    if "date_established" in fields:
        _require_aware(fields["date_established"])

    # The row lock serialises concurrent updates so each one gets its own version.
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    changed = [name for name, value in fields.items() if getattr(locked, name) != value]
    if not changed:
        return locked
    for name in changed:
        setattr(locked, name, fields[name])
    locked.version += 1
    locked.full_clean(validate_unique=False, validate_constraints=False)
    locked.save(update_fields=[*changed, "version", "updated_at"])
    _publish_state(locked)
    return locked


@transaction.atomic
def customer_delete(*, customer: Customer) -> None:
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    last_state = copy.copy(locked)  # delete() clears the instance's pk
    locked.delete()
    _publish_deleted(last_state)
