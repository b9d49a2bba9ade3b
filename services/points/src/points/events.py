"""The events the points service consumes: the canonical contracts, not producer code.

Each carries its typed record (``event_contracts``, generated from the same schema files),
so handlers receive ``Event[CustomerEntityState]`` / ``Event[OrderState]``.
"""

from __future__ import annotations

from event_contracts import CustomerEntityState, OrderState
from eventing import declare

CUSTOMER_TOPIC = "public_customer_entity_events"
CUSTOMER_SCHEMA = "customer/CustomerEntityState.avsc"
ORDER_TOPIC = "public_order_entity_events"
ORDER_SCHEMA = "order/OrderState.avsc"

CUSTOMER_ENTITY_STATE = declare(
    "customer_entity_state",
    topic=CUSTOMER_TOPIC,
    schema=CUSTOMER_SCHEMA,
    owned=False,
    record=CustomerEntityState,
)
CUSTOMER_ENTITY_DELETED = declare(
    "customer_entity_deleted",
    topic=CUSTOMER_TOPIC,
    schema=CUSTOMER_SCHEMA,
    owned=False,
    record=CustomerEntityState,
)
ORDER_CREATED = declare(
    "order_created", topic=ORDER_TOPIC, schema=ORDER_SCHEMA, owned=False, record=OrderState
)
ORDER_DELETED = declare(
    "order_deleted", topic=ORDER_TOPIC, schema=ORDER_SCHEMA, owned=False, record=OrderState
)
