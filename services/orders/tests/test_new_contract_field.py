"""A new field of the order contract needs no mapping code ("adding a field touches <= 4 files").

The files a new field touches: the ``.avsc`` (contracts/avro/order/OrderState.avsc), the
generated class (``make contracts``), and the producer's model and its migration (the
column the CDC row carries). This test does the first two in a temporary folder and shows
the field flowing from a captured row through the translator into the encoded event and
back out of the consumer's decoder as a typed field, with no other change.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eventing import Event, codegen
from eventing.consumer.decoding import MessageDecoder
from eventing.consumer.registry import HandlerRegistry
from eventing.events import EventType
from eventing.runtime import get_codec
from eventing.testing import InMemoryBroker, cloudevent_message, in_memory_registry
from orders import handlers
from orders.events import ORDER_CDC_TOPIC

pytestmark = pytest.mark.unit

CONTRACTS = Path(__file__).resolve().parents[3] / "contracts" / "avro"
NEW_FIELD = {"name": "gift_note", "type": ["null", "string"], "default": None, "doc": "Printed on the slip."}


@pytest.fixture
def grown_contract(tmp_path: Path) -> Iterator[tuple[type[Any], Path]]:
    """OrderState.avsc with one more field, and its class regenerated (steps 1 and 2 of 4)."""
    schema = json.loads((CONTRACTS / "order" / "OrderState.avsc").read_text())
    schema["fields"].append(NEW_FIELD)
    avsc = tmp_path / "avro" / "order" / "OrderState.avsc"
    avsc.parent.mkdir(parents=True)
    avsc.write_text(json.dumps(schema, indent=2))

    codegen.write(tmp_path / "avro", tmp_path / "event_contracts")

    name = f"grown_contracts_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, tmp_path / "event_contracts" / "order.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    try:
        yield module.OrderState, avsc
    finally:
        del sys.modules[name]


def captured_row(**columns: Any) -> Event[dict[str, Any]]:
    """A private CDC record as the consumer decodes it (the table's columns, Debezium's fields)."""
    row = {
        "id": str(uuid.uuid4()),
        "customer_id": str(uuid.uuid4()),
        "date_placed": "2022-12-10T12:02:28.673825Z",
        "item_count": 3,
        "__op": "c",
        "__lsn": 100,
        "__source_ts_ms": 1670673748673,
        "__deleted": "false",
        **columns,
    }
    return Event(id=handlers.cdc_event_id(row, None), type=ORDER_CDC_TOPIC, source="cdc", data=row)


def test_a_new_contract_field_flows_from_the_row_to_the_typed_consumer_event(
    grown_contract: tuple[type[Any], Path],
) -> None:
    grown, avsc = grown_contract
    produced = EventType("order_created_grown", "public_order_entity_events_grown", str(avsc), record=grown)
    consumed = EventType(produced.type, produced.topic, str(avsc), owned=False, record=grown)
    consumers = HandlerRegistry()
    consumers.handler(consumed, batch=True)(lambda events: None)

    with in_memory_registry([produced]):
        # the translator, unchanged, given the regenerated class (steps 3 and 4: the column exists)
        change = captured_row(gift_note="Happy birthday")
        outgoing = handlers.translation(
            change, created=produced, deleted=produced, builder=handlers.order_state_builder(grown)
        )
        # published as the outbox would carry it, decoded as the consumer would
        message = cloudevent_message(InMemoryBroker(), produced, outgoing.data)
        event = MessageDecoder(consumers, get_codec()).decode(message)

    assert isinstance(event, Event)
    assert isinstance(event.data, grown)
    assert event.data.gift_note == "Happy birthday"
    assert event.data.item_count == 3
    assert event.data.version == 100
    assert str(event.data.id) == change.data["id"]


def test_without_the_new_column_the_translator_fails_loudly_rather_than_dropping_the_field(
    grown_contract: tuple[type[Any], Path],
) -> None:
    grown, _ = grown_contract

    with pytest.raises(KeyError, match="gift_note"):
        handlers.translation(captured_row(), builder=handlers.order_state_builder(grown))
