"""Debezium connectors as code: definitions generated from settings, applied over REST."""

from __future__ import annotations

from eventing.connect.client import ConnectClient
from eventing.connect.debezium import (
    Connector,
    DatabaseEndpoint,
    outbox_connector,
    table_capture_connector,
)

__all__ = [
    "ConnectClient",
    "Connector",
    "DatabaseEndpoint",
    "outbox_connector",
    "table_capture_connector",
]
