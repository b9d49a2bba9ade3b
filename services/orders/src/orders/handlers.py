"""The translator: private CDC records of ``orders_order`` -> canonical order events.

Runs as consumer group ``orders.translator``. Each change is republished through this
service's outbox in the same transaction that records it as processed, so a redelivered
CDC record produces no second event. The canonical event id is derived from the change's
WAL position, so even a replay of the private topic yields the same ids downstream.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from eventing import Event, publish, raw_handler
from orders.events import ORDER_CDC_TOPIC, ORDER_CREATED, ORDER_DELETED

#: Namespace of the uuid5 ids of translated events.
TRANSLATION_NAMESPACE = uuid.UUID("6f1d3c52-4d0e-4a8e-9a55-0c6b8f1a2e77")


def cdc_event_id(row: dict[str, Any] | None, message: Any) -> str:
    """A stable id for one captured change: the same each time it is delivered."""
    if row is None:
        raise ValueError("tombstone records carry no change")
    return str(uuid.uuid5(TRANSLATION_NAMESPACE, f"{row['__lsn']}/{row['id']}/{row['__op']}"))


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def order_state(row: dict[str, Any]) -> dict[str, Any]:
    """The canonical ``OrderState`` of a captured row; the WAL position is its version."""
    return {
        "id": row["id"],
        "customer_id": row["customer_id"],
        "date_placed": _parse_time(row["date_placed"]),
        "item_count": row["item_count"],
        "version": row["__lsn"],
    }


@raw_handler(ORDER_CDC_TOPIC, event_id=cdc_event_id, group="orders.translator")
def on_order_row_changed(event: Event) -> None:
    row = event.data
    deleted = row.get("__deleted") == "true" or row.get("__op") == "d"
    changed_at = datetime.fromtimestamp(row["__source_ts_ms"] / 1000, UTC)
    publish(
        ORDER_DELETED if deleted else ORDER_CREATED,
        order_state(row),
        event_id=uuid.UUID(event.id),
        time=changed_at,
    )
