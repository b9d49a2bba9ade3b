"""Customer events: their declarations, payload and the publish hook.

The payload follows ``contracts/avro/customer/CustomerEntityState.avsc``. Deletion is its
own CloudEvents type on the same topic and schema: the last state, under the next version.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

from eventing import EventType, declare, publish

if TYPE_CHECKING:
    from customers.models import Customer

TOPIC = "public_customer_entity_events"
SCHEMA = "customer/CustomerEntityState.avsc"

CUSTOMER_ENTITY_STATE = declare("customer_entity_state", topic=TOPIC, schema=SCHEMA)
CUSTOMER_ENTITY_DELETED = declare("customer_entity_deleted", topic=TOPIC, schema=SCHEMA)


def customer_state_payload(customer: Customer, *, version: int) -> dict[str, Any]:
    """The ``CustomerEntityState`` record for ``customer`` at ``version``."""
    return {
        "id": str(customer.id),
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "date_established": customer.date_established.astimezone(UTC),
        "version": version,
    }


def publish_customer_event(event_type: EventType, data: dict[str, Any]) -> None:
    """Record a customer event in the outbox, inside the caller's transaction.

    ``customers.services`` calls it (as ``events.publish_customer_event``) after each
    write, inside the same ``transaction.atomic`` block; Debezium delivers it from the WAL.
    """
    publish(event_type, data)
