"""The repository's typed records (event_contracts) against their .avsc, and records <-> Avro."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from event_contracts import CustomerEntityState, OrderState
from eventing import codegen
from eventing.consumer.decoding import MessageDecoder, Poison
from eventing.consumer.registry import HandlerRegistry
from eventing.events import Event, EventType
from eventing.exceptions import ConfigurationError, EventingError
from eventing.runtime import get_codec
from eventing.serialization.avro import AvroCodec, parse_schema
from eventing.serialization.records import RecordBuilder, as_avro, from_avro
from eventing.testing import InMemoryBroker, cloudevent_message, in_memory_registry, make_event

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[4]
AVRO = REPO / "contracts" / "avro"
PACKAGE = REPO / "contracts" / "python" / "src" / "event_contracts"
RECORDS = {"customer/CustomerEntityState.avsc": CustomerEntityState, "order/OrderState.avsc": OrderState}

PLUS_TWO = timezone(timedelta(hours=2))


def test_the_generated_package_is_what_the_contracts_generate() -> None:
    # `make contracts` regenerates; this fails when an .avsc changed and the classes did not
    assert codegen.drift(AVRO, PACKAGE) == []


@pytest.mark.parametrize("schema_path", sorted(RECORDS))
def test_each_record_class_has_its_schemas_fields_in_order_with_their_types(schema_path: str) -> None:
    cls = RECORDS[schema_path]
    schema = json.loads((AVRO / schema_path).read_text())

    expected = [(f["name"], codegen.python_type(f["type"], set(), f["name"])) for f in schema["fields"]]

    assert [(f.name, f.type) for f in dataclasses.fields(cls)] == expected
    assert schema_path == cls.AVRO_SCHEMA
    assert f"{schema['namespace']}.{schema['name']}" == cls.AVRO_NAME


def order(**overrides: Any) -> OrderState:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "customer_id": uuid.uuid4(),
        "date_placed": datetime(2022, 12, 10, 14, 2, 28, 673825, tzinfo=PLUS_TWO),
        "item_count": 3,
        "version": 27_000_000_000,
    }
    return OrderState(**{**values, **overrides})


def customer() -> CustomerEntityState:
    return CustomerEntityState(
        id=uuid.uuid4(),
        first_name="Bart",
        last_name="Simpson",
        date_established=datetime(1980, 2, 23, 1, 0, tzinfo=PLUS_TWO),
        version=1,
    )


def round_trip(record: Any) -> Any:
    """Encode ``record`` with its contract through the real codec, decode it as a consumer does."""
    schema = json.loads((AVRO / record.AVRO_SCHEMA).read_text())
    with in_memory_registry([]) as registry:
        schema_id = registry.register("records-value", json.dumps(schema))
        payload = AvroCodec.encode(schema_id, parse_schema(schema), record)
        decoded = AvroCodec(registry).decode(payload, parse_schema(schema))
    return from_avro(type(record), decoded)


@pytest.mark.parametrize("make", [order, customer], ids=["OrderState", "CustomerEntityState"])
def test_a_record_survives_the_codec_with_uuids_and_times_in_utc(make: Any) -> None:
    sent = make()

    received = round_trip(sent)

    assert received == sent  # the same instant, the same ids
    for name in ("id", "customer_id"):
        if hasattr(received, name):
            assert isinstance(getattr(received, name), uuid.UUID)
    if isinstance(received, OrderState):
        moment, utc_hour = received.date_placed, 12  # sent as 14:02 at +02:00
    else:
        moment, utc_hour = received.date_established, 23  # sent as 01:00 at +02:00, the day after
    assert moment.utcoffset() == timedelta(0)
    assert moment.hour == utc_hour


def test_as_avro_gives_the_datum_of_a_record_and_passes_a_mapping_through() -> None:
    state = order()
    datum = {"id": "x"}

    assert as_avro(state) == dataclasses.asdict(state)
    assert list(as_avro(state)) == [f.name for f in dataclasses.fields(OrderState)]
    assert as_avro(datum) is datum
    with pytest.raises(TypeError, match="mapping or a record"):
        as_avro(object())  # type: ignore[arg-type]


def test_data_that_is_neither_is_refused_by_the_codec() -> None:
    schema = json.loads((AVRO / OrderState.AVRO_SCHEMA).read_text())
    with pytest.raises(EventingError, match="does not match its Avro schema"):
        AvroCodec.encode(1, parse_schema(schema), ["not", "a", "record"])


def test_key_for_reads_the_key_field_of_a_record_or_a_mapping() -> None:
    event_type = EventType("t", "topic", "s.avsc", record=OrderState)
    state = order()

    assert event_type.key_for(state) == str(state.id)
    assert event_type.key_for({"id": state.id}) == str(state.id)
    with pytest.raises(ConfigurationError, match="no key field 'order_id'"):
        EventType("t", "topic", "s.avsc", key_field="order_id").key_for(state)


class Model:
    """Stands in for a model instance: attributes, some not in the contract."""

    def __init__(self) -> None:
        self.id = uuid.uuid4()
        self.first_name = "Lisa"
        self.last_name = "Simpson"
        self.date_established = datetime(1981, 5, 9, 8, 0, tzinfo=PLUS_TWO)
        self.version = 4
        self.updated_at = datetime.now(UTC)


def test_a_builder_takes_fields_by_name_converts_by_type_and_lets_given_fields_win() -> None:
    builder = RecordBuilder(
        CustomerEntityState, given=("version",), convert={datetime: lambda m: m.astimezone(UTC)}
    )
    model = Model()

    state = builder.from_object(model, version=5)

    assert state == CustomerEntityState(
        id=model.id,
        first_name="Lisa",
        last_name="Simpson",
        date_established=datetime(1981, 5, 9, 6, 0, tzinfo=UTC),
        version=5,
    )
    assert state.date_established.tzinfo is UTC


def test_a_builder_reads_a_row_and_converts_nullable_fields_only_when_set() -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Row:
        id: uuid.UUID
        parent: uuid.UUID | None
        version: int

    builder = RecordBuilder(Row, given=("version",), convert={uuid.UUID: uuid.UUID})
    ids = [uuid.uuid4(), uuid.uuid4()]

    assert builder.from_mapping({"id": str(ids[0]), "parent": str(ids[1])}, version=1) == Row(
        id=ids[0], parent=ids[1], version=1
    )
    assert builder.from_mapping({"id": str(ids[0]), "parent": None}, version=2).parent is None
    with pytest.raises(KeyError, match="parent"):
        builder.from_mapping({"id": str(ids[0])}, version=3)
    with pytest.raises(TypeError, match="no fields"):
        RecordBuilder(Row, given=("revision",))


# -- the consumer side: typed events -----------------------------------------------------------

ORDER_TYPED = EventType(
    "order_created_typed",
    "records_orders",
    str(AVRO / OrderState.AVRO_SCHEMA),
    owned=False,
    record=OrderState,
)
ORDER_UNTYPED = EventType(
    "order_created_untyped", "records_orders", str(AVRO / OrderState.AVRO_SCHEMA), owned=False
)


@pytest.fixture
def decoder() -> Iterator[MessageDecoder]:
    handlers = HandlerRegistry()
    for event_type in (ORDER_TYPED, ORDER_UNTYPED):
        handlers.handler(event_type, batch=True)(lambda events: None)
    with in_memory_registry([]):
        yield MessageDecoder(handlers, get_codec())


def test_the_decoder_hands_handlers_the_record_of_a_typed_event_type(decoder: MessageDecoder) -> None:
    sent = order()

    event = decoder.decode(cloudevent_message(InMemoryBroker(), ORDER_TYPED, sent))

    assert isinstance(event, Event)
    assert isinstance(event.data, OrderState)
    assert event.data == sent
    assert event.key == str(sent.id)


def test_an_event_type_without_a_record_keeps_dict_data(decoder: MessageDecoder) -> None:
    sent = order()

    event = decoder.decode(cloudevent_message(InMemoryBroker(), ORDER_UNTYPED, sent))

    assert isinstance(event, Event)
    assert event.data == dataclasses.asdict(sent)


def test_a_record_class_that_does_not_match_its_contract_is_a_configuration_error(
    decoder: MessageDecoder,
) -> None:
    @dataclasses.dataclass(frozen=True)
    class Stale:  # OrderState before item_count existed
        id: uuid.UUID
        customer_id: uuid.UUID
        date_placed: datetime
        version: int

    stale = dataclasses.replace(ORDER_TYPED, type="order_created_stale", record=Stale)
    decoder.handlers.handler(stale, batch=True)(lambda events: None)
    message = cloudevent_message(InMemoryBroker(), stale, order())

    with pytest.raises(ConfigurationError, match="does not match the contract"):
        decoder.decode(message)
    assert not isinstance(decoder.decode(cloudevent_message(InMemoryBroker(), ORDER_TYPED, order())), Poison)


def test_make_event_builds_the_typed_event_from_a_record_or_a_dict() -> None:
    sent = order()
    with in_memory_registry([]):
        from_record = make_event(ORDER_TYPED, sent)
        from_dict = make_event(ORDER_TYPED, dataclasses.asdict(sent))

    assert from_record.data == from_dict.data == sent
    assert from_record.data.item_count == 3
    assert from_record.key == str(sent.id)
