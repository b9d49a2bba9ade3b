"""Avro bodies in the Confluent wire format: magic byte 0, 4-byte big-endian schema id, body.

Encoding is pure CPU (the schema id is resolved before traffic), so it is safe inside a
database transaction. Decoding looks writer schemas up by id once and caches them, so a
warm consumer makes no registry call per message.
"""

from __future__ import annotations

import io
import json
import struct
import threading
from typing import Any

import fastavro
from fastavro.types import Schema as ParsedSchema

from eventing.exceptions import DecodeError, EventingError, SchemaRegistryUnavailable
from eventing.serialization.records import as_avro
from eventing.serialization.registry import AbstractSchemaRegistry

MAGIC_BYTE = 0
_HEADER = struct.Struct(">bI")


def frame(schema_id: int, body: bytes) -> bytes:
    """Prefix an Avro body with the Confluent header for ``schema_id``."""
    return _HEADER.pack(MAGIC_BYTE, schema_id) + body


def unframe(payload: bytes) -> tuple[int, bytes]:
    """Split a Confluent-framed payload into (schema id, Avro body).

    Raises :class:`DecodeError` when the payload is not in the wire format.
    """
    if payload is None or len(payload) < _HEADER.size:
        raise DecodeError("Payload too short for the Confluent wire format")
    magic, schema_id = _HEADER.unpack_from(payload)
    if magic != MAGIC_BYTE:
        raise DecodeError("Unknown magic byte", context={"magic": magic})
    return schema_id, payload[_HEADER.size :]


def parse_schema(schema: dict[str, Any] | str) -> ParsedSchema:
    """Parse an Avro schema (dict or JSON text) with fastavro, standalone."""
    loaded = json.loads(schema) if isinstance(schema, str) else schema
    return fastavro.parse_schema(loaded, named_schemas={})


def canonical_json(schema: dict[str, Any] | str) -> str:
    """A stable JSON text of ``schema``, used as the text registered in the registry."""
    loaded = json.loads(schema) if isinstance(schema, str) else schema
    return json.dumps(loaded, separators=(",", ":"))


class AvroCodec:
    """Encodes and decodes Confluent-framed Avro, caching writer schemas by id.

    Thread-safe for concurrent decoding; a cache miss costs one registry call.
    """

    def __init__(self, registry: AbstractSchemaRegistry) -> None:
        self.registry = registry
        self._writers: dict[int, ParsedSchema] = {}
        self._lock = threading.Lock()

    @staticmethod
    def encode(schema_id: int, schema: ParsedSchema, record: Any) -> bytes:
        """Serialize ``record`` (a mapping or a typed record) with ``schema``, framed with ``schema_id``."""
        buffer = io.BytesIO()
        buffer.write(_HEADER.pack(MAGIC_BYTE, schema_id))
        try:
            fastavro.schemaless_writer(buffer, schema, as_avro(record))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise EventingError(
                f"Event data does not match its Avro schema: {exc}",
                context={"schema_id": schema_id},
            ) from exc
        return buffer.getvalue()

    def writer_schema(self, schema_id: int) -> ParsedSchema:
        """The parsed writer schema of ``schema_id`` (cached after the first lookup)."""
        parsed = self._writers.get(schema_id)
        if parsed is not None:
            return parsed
        try:
            text = self.registry.get_schema(schema_id)
        except SchemaRegistryUnavailable:
            raise
        except EventingError as exc:
            raise DecodeError(f"Unknown schema id {schema_id}", context={"schema_id": schema_id}) from exc
        parsed = parse_schema(text)
        with self._lock:
            self._writers[schema_id] = parsed
        return parsed

    def decode(self, payload: bytes, reader: ParsedSchema | None = None) -> Any:
        """Decode a framed payload; with ``reader``, resolve the writer's data to it.

        Raises :class:`DecodeError` for a payload that cannot be read (permanent), and
        :class:`SchemaRegistryUnavailable` when the writer schema cannot be fetched
        (transient).
        """
        schema_id, body = unframe(payload)
        writer = self.writer_schema(schema_id)
        try:
            return fastavro.schemaless_reader(io.BytesIO(body), writer, reader)
        except Exception as exc:  # fastavro raises many types for corrupt input
            raise DecodeError(
                f"Cannot decode Avro body: {type(exc).__name__}: {exc}",
                context={"schema_id": schema_id},
            ) from exc
