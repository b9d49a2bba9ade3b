from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from eventing.exceptions import DecodeError
from eventing.serialization.avro import AvroCodec, frame, parse_schema, unframe
from eventing.serialization.registry import InMemorySchemaRegistry

pytestmark = pytest.mark.unit

SCHEMA = {
    "type": "record",
    "name": "Thing",
    "fields": [
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "count", "type": "long"},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    ],
}


def _codec_with_schema() -> tuple[AvroCodec, int]:
    registry = InMemorySchemaRegistry()
    import json

    schema_id = registry.register("things-value", json.dumps(SCHEMA))
    return AvroCodec(registry), schema_id


def test_round_trip_keeps_values_and_uses_confluent_framing() -> None:
    # Given a registered schema
    codec, schema_id = _codec_with_schema()
    record = {"id": uuid.uuid4(), "count": 3340000, "at": datetime(1980, 2, 23, tzinfo=UTC)}
    # When encoding and decoding
    payload = codec.encode(schema_id, parse_schema(SCHEMA), record)
    # Then the payload starts with magic byte 0 and the 4-byte big-endian id
    assert payload[0] == 0
    assert int.from_bytes(payload[1:5], "big") == schema_id
    assert codec.decode(payload) == record


def test_decoding_resolves_to_the_reader_schema() -> None:
    # Given data written with a schema that has an extra field
    codec, schema_id = _codec_with_schema()
    record = {"id": uuid.uuid4(), "count": 1, "at": datetime(2020, 1, 1, tzinfo=UTC)}
    payload = codec.encode(schema_id, parse_schema(SCHEMA), record)
    reader = {**SCHEMA, "fields": [f for f in SCHEMA["fields"] if f["name"] != "at"]}
    # Then a reader that does not know the field simply does not see it
    assert codec.decode(payload, parse_schema(reader)) == {"id": record["id"], "count": 1}


def test_writer_schema_is_fetched_once_per_id() -> None:
    codec, schema_id = _codec_with_schema()
    payload = codec.encode(
        schema_id, parse_schema(SCHEMA), {"id": uuid.uuid4(), "count": 1, "at": datetime.now(UTC)}
    )
    calls: list[int] = []
    original = codec.registry.get_schema
    codec.registry.get_schema = lambda i: calls.append(i) or original(i)  # type: ignore[method-assign]
    for _ in range(3):
        codec.decode(payload)
    assert calls == [schema_id]


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x00\x00", b"\x01\x00\x00\x00\x01abc", frame(999, b"\x02")],
    ids=["empty", "short", "bad-magic", "unknown-id"],
)
def test_bad_payloads_raise_decode_error(payload: bytes) -> None:
    codec, _ = _codec_with_schema()
    with pytest.raises(DecodeError):
        codec.decode(payload)


def test_corrupt_body_raises_decode_error() -> None:
    codec, schema_id = _codec_with_schema()
    with pytest.raises(DecodeError):
        codec.decode(frame(schema_id, b"\xff"))


def test_unframe_splits_header_from_body() -> None:
    assert unframe(frame(7, b"body")) == (7, b"body")


def test_encoding_data_that_does_not_match_the_schema_fails_clearly() -> None:
    codec, schema_id = _codec_with_schema()
    with pytest.raises(Exception, match="does not match its Avro schema"):
        codec.encode(schema_id, parse_schema(SCHEMA), {"id": "x", "count": "many"})
