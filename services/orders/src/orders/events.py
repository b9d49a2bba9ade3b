"""Order events: the canonical contract the translator publishes, and the private CDC topic.

``private_orders_order_cdc`` carries ``orders_order`` rows as Debezium captures them (the
table's shape; only this service reads it). The translator turns each change into the
canonical ``OrderState`` event on ``public_order_entity_events``: ``order_created`` for
the order's state after a create or update, ``order_deleted`` for its last state. Both
carry the typed record ``event_contracts.OrderState`` (generated from the schema).
"""

from __future__ import annotations

from event_contracts import OrderState
from eventing import declare

ORDER_CDC_TOPIC = "private_orders_order_cdc"
TOPIC = "public_order_entity_events"
SCHEMA = "order/OrderState.avsc"

ORDER_CREATED = declare("order_created", topic=TOPIC, schema=SCHEMA, record=OrderState)
ORDER_DELETED = declare("order_deleted", topic=TOPIC, schema=SCHEMA, record=OrderState)
