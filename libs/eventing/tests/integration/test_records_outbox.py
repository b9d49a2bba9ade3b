"""publish() / publish_many() take typed records (event_contracts) as well as mappings."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from django.db import transaction

from event_contracts import OrderState
from eventing import EventingError, Outgoing, publish, publish_many
from eventing.events import EventType
from eventing.testing import captured_outbox, in_memory_registry

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SCHEMA = Path(__file__).resolve().parents[4] / "contracts" / "avro" / OrderState.AVRO_SCHEMA
ORDER_STATE = EventType("records_order_state", "records_public_orders", str(SCHEMA), record=OrderState)


@pytest.fixture(autouse=True)
def _registry() -> Iterator[None]:
    with in_memory_registry([ORDER_STATE]):
        yield


def order(item_count: int = 3) -> OrderState:
    return OrderState(
        id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        date_placed=datetime(2022, 12, 10, 14, 2, 28, 673825, tzinfo=timezone(timedelta(hours=2))),
        item_count=item_count,
        version=1,
    )


def test_publish_writes_a_record_as_its_avro_datum_keyed_by_its_id() -> None:
    state = order()

    with captured_outbox() as outbox, transaction.atomic():
        publish(ORDER_STATE, state)

    (event,) = outbox
    assert event.key == str(state.id)
    assert event.topic == "records_public_orders"
    assert event.data == {
        **dataclasses.asdict(state),
        "date_placed": datetime(2022, 12, 10, 12, 2, 28, 673825, tzinfo=UTC),
    }


def test_publish_many_takes_records_and_mappings_in_one_batch() -> None:
    first, second = order(1), order(2)

    with captured_outbox() as outbox, transaction.atomic():
        publish_many([Outgoing(ORDER_STATE, first), Outgoing(ORDER_STATE, dataclasses.asdict(second))])

    assert [(e.key, e.data["item_count"]) for e in outbox] == [(str(first.id), 1), (str(second.id), 2)]


def test_a_record_that_breaks_its_schema_is_refused_and_nothing_is_written() -> None:
    broken = dataclasses.replace(order(), item_count="three")  # type: ignore[arg-type]

    with (
        captured_outbox() as outbox,
        pytest.raises(EventingError, match="does not match its Avro schema"),
        transaction.atomic(),
    ):
        publish(ORDER_STATE, broken)

    assert outbox == []
