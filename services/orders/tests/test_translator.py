"""The translator: captured orders_order changes -> canonical order events in the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from eventing import Event
from eventing.consumer.processing import Outcome
from eventing.testing import captured_outbox, deliver, in_memory_registry
from orders.events import ORDER_CDC_TOPIC
from orders.handlers import cdc_event_id

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GROUP = "orders.translator"


@pytest.fixture(autouse=True)
def _schemas() -> Iterator[None]:
    with in_memory_registry():
        yield


def captured(row: dict[str, Any], offset: int = 0) -> Event:
    """A private CDC record as the consumer decodes it (Debezium's flattened row)."""
    return Event(
        id=cdc_event_id(row, None),
        type=ORDER_CDC_TOPIC,
        source=f"kafka:{ORDER_CDC_TOPIC}",
        data=row,
        key=row["id"],
        topic=ORDER_CDC_TOPIC,
        offset=offset,
    )


def row(op: str, lsn: int, *, order_id: str, item_count: int = 3, deleted: bool = False) -> dict[str, Any]:
    return {
        "id": order_id,
        "customer_id": "31d71211-60b6-4e72-9b0c-e874583404c7",
        "date_placed": "2022-12-10T12:02:28.673825Z",
        "item_count": item_count,
        "__op": op,
        "__lsn": lsn,
        "__source_ts_ms": 1670673748673,
        "__deleted": "true" if deleted else "false",
    }


def test_create_update_delete_become_canonical_events_versioned_by_wal_position() -> None:
    order_id = str(uuid.uuid4())
    with captured_outbox() as outbox:
        deliver(
            [
                captured(row("c", 100, order_id=order_id)),
                captured(row("u", 200, order_id=order_id, item_count=5)),
                captured(row("d", 300, order_id=order_id, item_count=5, deleted=True)),
            ],
            group=GROUP,
        )
    assert [(e.type, e.data["item_count"], e.data["version"]) for e in outbox] == [
        ("order_created", 3, 100),
        ("order_created", 5, 200),
        ("order_deleted", 5, 300),
    ]
    first = outbox[0]
    assert first.topic == "public_order_entity_events"
    assert first.key == order_id
    assert first.source == "/orders"
    assert str(first.data["customer_id"]) == "31d71211-60b6-4e72-9b0c-e874583404c7"
    assert first.headers["ce_time"].startswith("2022-12-10T12:02:28")


def test_redelivered_change_is_translated_once_with_a_stable_id() -> None:
    change = captured(row("c", 100, order_id=str(uuid.uuid4())))
    with captured_outbox() as outbox:
        assert deliver([change], group=GROUP).outcomes == [Outcome.APPLIED]
        assert deliver([change], group=GROUP).outcomes == [Outcome.DUPLICATE]
    (event,) = outbox
    assert event.id == change.id


def test_a_batch_of_changes_is_translated_in_order_and_an_untranslatable_one_fails_alone() -> None:
    # Given one poll's worth of changes of three orders, one of them without a timestamp
    first, broken, last = (str(uuid.uuid4()) for _ in range(3))
    bad = row("c", 200, order_id=broken)
    del bad["__source_ts_ms"]
    changes = [
        captured(row("c", 100, order_id=first), offset=0),
        captured(bad, offset=1),
        captured(row("c", 300, order_id=last), offset=2),
        captured(row("u", 400, order_id=first, item_count=9), offset=3),
    ]
    with captured_outbox() as outbox:
        result = deliver(changes, group=GROUP)
    # Then the others are translated, in order, and the broken change is held for retry
    assert result.outcomes == [Outcome.APPLIED, Outcome.FAILED, Outcome.APPLIED, Outcome.APPLIED]
    assert isinstance(result.errors[1], KeyError)
    assert [(e.key, e.data["version"]) for e in outbox] == [(first, 100), (last, 300), (first, 400)]
