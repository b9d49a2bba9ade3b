"""Customer events: their declarations, payload and the publish hook.

The payload is the typed record ``event_contracts.CustomerEntityState``, generated from
``contracts/avro/customer/CustomerEntityState.avsc``, built from the model by field name:
a model field whose name is a field of the record flows into the event with no code here.
Deletion is its own CloudEvents type on the same topic and schema: the last state, under
the next version.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from event_contracts import CustomerEntityState
from eventing import EventType, declare, publish
from eventing.serialization.records import RecordBuilder

if TYPE_CHECKING:
    from customers.models import Customer

TOPIC = "public_customer_entity_events"
SCHEMA = "customer/CustomerEntityState.avsc"

CUSTOMER_ENTITY_STATE = declare(
    "customer_entity_state", topic=TOPIC, schema=SCHEMA, record=CustomerEntityState
)
CUSTOMER_ENTITY_DELETED = declare(
    "customer_entity_deleted", topic=TOPIC, schema=SCHEMA, record=CustomerEntityState
)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


#: ``CustomerEntityState`` from the model's attributes of the same names (times in UTC).
_CUSTOMER_STATE = RecordBuilder(CustomerEntityState, given=("version",), convert={datetime: _utc})


def customer_state_payload(customer: Customer, *, version: int) -> CustomerEntityState:
    """The ``CustomerEntityState`` record for ``customer`` at ``version``."""
    return _CUSTOMER_STATE.from_object(customer, version=version)


def publish_customer_event(event_type: EventType[CustomerEntityState], data: CustomerEntityState) -> None:
    """Record a customer event in the outbox, inside the caller's transaction.

    ``customers.services`` calls it (as ``events.publish_customer_event``) after each
    write, inside the same ``transaction.atomic`` block; Debezium delivers it from the WAL.
    """
    publish(event_type, data)
