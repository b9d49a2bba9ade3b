"""The Debezium connector capturing the ``orders_order`` table (change data capture).

The outbox connector of this database comes from ``eventing.connect.defaults.outbox``. The
Avro converter and the registry Connect uses are settings (``CONNECT_AVRO_CONVERTER``,
``CONNECT_REGISTRY_URL``; ``eventing.connect.converters``).
"""

from __future__ import annotations

from eventing.connect import Connector
from eventing.connect.defaults import table_capture
from orders.events import ORDER_CDC_TOPIC


def order_capture() -> Connector:
    return table_capture("orders-cdc", tables=["public.orders_order"], topic=ORDER_CDC_TOPIC)
