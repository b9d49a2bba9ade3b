"""Process-wide collaborators: the schema registry, the codec and the resolved schema ids.

Created lazily (no client connects at import time) from ``settings.EVENTING``; tests swap
them with :func:`use_registry` (see ``eventing.testing``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from fastavro.types import Schema as ParsedSchema

from eventing.conf import eventing_settings
from eventing.events import EventType
from eventing.exceptions import SchemaNotRegistered
from eventing.serialization.avro import AvroCodec, parse_schema
from eventing.serialization.registry import AbstractSchemaRegistry, ConfluentSchemaRegistry


@dataclass(frozen=True)
class ResolvedSchema:
    """A schema with the id the registry gave it, ready for CPU-only encoding."""

    subject: str
    schema_id: int
    parsed: ParsedSchema
    text: str


class _Runtime:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._registry: AbstractSchemaRegistry | None = None
        self._codec: AvroCodec | None = None
        self._resolved: dict[str, ResolvedSchema] = {}
        self._readers: dict[str, ParsedSchema] = {}

    def registry(self) -> AbstractSchemaRegistry:
        with self._lock:
            if self._registry is None:
                self._registry = ConfluentSchemaRegistry(eventing_settings.SCHEMA_REGISTRY_URL)
            return self._registry

    def codec(self) -> AvroCodec:
        registry = self.registry()
        with self._lock:
            if self._codec is None or self._codec.registry is not registry:
                self._codec = AvroCodec(registry)
            return self._codec

    def use_registry(self, registry: AbstractSchemaRegistry | None) -> None:
        with self._lock:
            self._registry = registry
            self._codec = None
            self._resolved.clear()

    def remember(self, event_type: EventType, resolved: ResolvedSchema) -> None:
        self._resolved[event_type.type] = resolved

    def resolved(self, event_type: EventType) -> ResolvedSchema:
        """The registered schema of ``event_type``; never calls the registry."""
        try:
            return self._resolved[event_type.type]
        except KeyError:
            raise SchemaNotRegistered(
                "Schema id not resolved: call eventing.startup() (or run "
                "`manage.py eventing_schemas register`) before publishing",
                context={"event_type": event_type.type, "subject": event_type.subject},
            ) from None

    def reader_schema(self, event_type: EventType) -> ParsedSchema:
        """The parsed reader schema of a consumed event type (from the contract file)."""
        reader = self._readers.get(event_type.type)
        if reader is None:
            reader = parse_schema(event_type.load_schema(eventing_settings.schema_root()))
            self._readers[event_type.type] = reader
        return reader

    def reset(self) -> None:
        with self._lock:
            self._registry = None
            self._codec = None
            self._resolved.clear()
            self._readers.clear()


runtime = _Runtime()


def get_registry() -> AbstractSchemaRegistry:
    """The schema registry client of this process."""
    return runtime.registry()


def get_codec() -> AvroCodec:
    """The Avro codec of this process (shares the registry's schema cache)."""
    return runtime.codec()


def use_registry(registry: AbstractSchemaRegistry | None) -> None:
    """Replace the registry (e.g. with an ``InMemorySchemaRegistry`` in tests)."""
    runtime.use_registry(registry)
