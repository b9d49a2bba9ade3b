"""The Debezium connector capturing the ``orders_order`` table (change data capture).

The outbox connector of this database comes from ``eventing.connect.defaults.outbox``.
"""

from __future__ import annotations

import os

from eventing.conf import eventing_settings
from eventing.connect import Connector, table_capture_connector
from eventing.connect.defaults import database_endpoint
from orders.events import ORDER_CDC_TOPIC


def apicurio_registry_url() -> str:
    """Apicurio's v2 REST API, used by the Avro converter inside Kafka Connect."""
    explicit = os.environ.get("APICURIO_REGISTRY_URL")
    if explicit:
        return explicit
    ccompat = str(eventing_settings.SCHEMA_REGISTRY_URL).rstrip("/")
    return ccompat.removesuffix("/apis/ccompat/v7") + "/apis/registry/v2"


def order_capture() -> Connector:
    return table_capture_connector(
        "orders-cdc",
        database_endpoint(),
        tables=["public.orders_order"],
        topic=ORDER_CDC_TOPIC,
        registry_url=apicurio_registry_url(),
    )
