"""The translator: private CDC records of ``orders_order`` -> canonical order events.

Runs as consumer group ``orders.translator``. Each change is republished through this
service's outbox in the same transaction that records it as processed, so a redelivered
CDC record produces no second event. The canonical event id is derived from the change's
WAL position, so even a replay of the private topic yields the same ids downstream.

A batch handler: the changes of one poll are written to the outbox with one multi-row
insert (``publish_many``), in the consumer's one transaction per batch. If it fails, the
consumer re-runs the batch one change at a time, so a poison change alone is held and
dead-lettered (benchmarks/bench_translator.py measures both paths).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from eventing import Event, EventType, Outgoing, publish_many, raw_handler
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


def translation(
    event: Event, *, created: EventType = ORDER_CREATED, deleted: EventType = ORDER_DELETED
) -> Outgoing:
    """The canonical event of one captured change (``order_deleted`` for a delete)."""
    row = event.data
    is_delete = row.get("__deleted") == "true" or row.get("__op") == "d"
    return Outgoing(
        deleted if is_delete else created,
        order_state(row),
        event_id=uuid.UUID(event.id),
        time=datetime.fromtimestamp(row["__source_ts_ms"] / 1000, UTC),
    )


@raw_handler(ORDER_CDC_TOPIC, event_id=cdc_event_id, group="orders.translator", batch=True)
def on_order_rows_changed(events: Sequence[Event]) -> None:
    publish_many([translation(event) for event in events])
