"""The events the points service consumes: the canonical contracts, not producer code."""

from __future__ import annotations

from eventing import declare

CUSTOMER_TOPIC = "public_customer_entity_events"
CUSTOMER_SCHEMA = "customer/CustomerEntityState.avsc"
ORDER_TOPIC = "public_order_entity_events"
ORDER_SCHEMA = "order/OrderState.avsc"

CUSTOMER_ENTITY_STATE = declare(
    "customer_entity_state", topic=CUSTOMER_TOPIC, schema=CUSTOMER_SCHEMA, owned=False
)
CUSTOMER_ENTITY_DELETED = declare(
    "customer_entity_deleted", topic=CUSTOMER_TOPIC, schema=CUSTOMER_SCHEMA, owned=False
)
ORDER_CREATED = declare("order_created", topic=ORDER_TOPIC, schema=ORDER_SCHEMA, owned=False)
ORDER_DELETED = declare("order_deleted", topic=ORDER_TOPIC, schema=ORDER_SCHEMA, owned=False)
