"""Avro encoding in the Confluent wire format, and schema registry adapters."""

from __future__ import annotations

from eventing.serialization.avro import AvroCodec, frame, unframe
from eventing.serialization.registry import (
    AbstractSchemaRegistry,
    ConfluentSchemaRegistry,
    InMemorySchemaRegistry,
)

__all__ = [
    "AbstractSchemaRegistry",
    "AvroCodec",
    "ConfluentSchemaRegistry",
    "InMemorySchemaRegistry",
    "frame",
    "unframe",
]
