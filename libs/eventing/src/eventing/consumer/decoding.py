"""Turning Kafka messages into :class:`~eventing.events.Event` objects.

CloudEvents (Kafka protocol binding, binary content mode): attributes come from the
``ce_*`` headers, the value is the data alone, Avro in the Confluent wire format, decoded
with the writer schema (by id, cached) resolved to the consumer's reader schema (the
contract file it declared), then turned into the event type's record class when it
declares one (``Event[OrderState]``). Raw topics (e.g. Debezium CDC) carry no envelope;
their handler derives the event id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from eventing.consumer.registry import HandlerRegistry
from eventing.events import AVRO_CONTENT_TYPE, Event
from eventing.exceptions import ConfigurationError, DecodeError, EventingError, InvalidEnvelope
from eventing.runtime import runtime
from eventing.serialization.avro import AvroCodec

logger = logging.getLogger(__name__)


class Message(Protocol):
    """The part of ``confluent_kafka.Message`` the consumer uses."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> list[tuple[str, bytes | None]] | None: ...
    def error(self) -> Any: ...


@dataclass(frozen=True)
class Poison:
    """A message that can never be handled: it goes to the dead-letter topic at once."""

    message: Message
    reason: str
    error: EventingError


def headers_of(message: Message) -> dict[str, str | None]:
    """Message headers as text (last value wins for repeated names)."""
    result: dict[str, str | None] = {}
    for name, value in message.headers() or ():
        result[name] = value.decode("utf-8", "replace") if value is not None else None
    return result


def _text(value: bytes | None) -> str | None:
    return value.decode("utf-8", "replace") if value is not None else None


class MessageDecoder:
    """Decodes messages for one set of handlers. Thread-compatible, not thread-safe."""

    def __init__(self, handlers: HandlerRegistry, codec: AvroCodec) -> None:
        self.handlers = handlers
        self.codec = codec

    def decode(self, message: Message) -> Event[Any] | Poison:
        """An Event, or a Poison for a message that can never be handled.

        :class:`~eventing.exceptions.SchemaRegistryUnavailable` propagates: it is
        transient, and the message must be decoded again later, not dead-lettered.
        """
        topic = message.topic() or ""
        raw = self.handlers.for_raw_topic(topic)
        try:
            if raw is not None:
                return self._decode_raw(message, topic, raw.event_id)
            return self._decode_cloudevent(message, topic)
        except (DecodeError, InvalidEnvelope) as exc:
            reason = "undecodable" if isinstance(exc, DecodeError) else "invalid_envelope"
            return Poison(message=message, reason=reason, error=exc)

    def _decode_raw(self, message: Message, topic: str, event_id: Any) -> Event[Any]:
        value = message.value()
        data = None if value is None else self.codec.decode(value)
        try:
            derived = str(event_id(data, message))
        except Exception as exc:
            raise InvalidEnvelope(
                f"Cannot derive an event id: {type(exc).__name__}: {exc}", context={"topic": topic}
            ) from exc
        return Event(
            id=derived,
            type=topic,
            source=f"kafka:{topic}",
            data=data,
            key=_text(message.key()),
            topic=topic,
            partition=message.partition() or 0,
            offset=message.offset() or 0,
            headers=headers_of(message),
            raw_value=value,
        )

    def _decode_cloudevent(self, message: Message, topic: str) -> Event[Any]:
        headers = headers_of(message)
        event_id = headers.get("ce_id")
        type_name = headers.get("ce_type")
        if not event_id or not type_name:
            raise InvalidEnvelope(
                "Missing CloudEvents attribute ce_id or ce_type",
                context={"topic": topic, "headers": sorted(headers)},
            )
        handler = self.handlers.for_type(type_name)
        data: Any = None
        if handler is not None and handler.event_type is not None:
            content_type = headers.get("content-type") or AVRO_CONTENT_TYPE
            if content_type.split(";")[0].strip() != AVRO_CONTENT_TYPE:
                raise DecodeError(f"Unsupported content-type {content_type!r}", context={"ce_id": event_id})
            value = message.value()
            if value is None:
                raise DecodeError("CloudEvent without data", context={"ce_id": event_id})
            event_type = handler.event_type
            data = self.codec.decode(value, runtime.reader_schema(event_type))
            if event_type.record is not None:
                data = _as_record(event_type.record, data, type_name)
        return Event(
            id=event_id,
            type=type_name,
            source=headers.get("ce_source") or "",
            data=data,
            key=_text(message.key()),
            time=headers.get("ce_time"),
            topic=topic,
            partition=message.partition() or 0,
            offset=message.offset() or 0,
            headers=headers,
            raw_value=message.value(),
        )


def _as_record(record: type[Any], data: Any, type_name: str) -> Any:
    """``data`` (decoded with the contract as reader schema) as an instance of ``record``.

    A record class that does not match the contract file is a deployment error, not a bad
    message: ConfigurationError propagates (nothing is dead-lettered or committed).
    """
    try:
        return record(**data)
    except TypeError as exc:
        raise ConfigurationError(
            f"Record class {record.__qualname__} does not match the contract: {exc}"
            " (regenerate it: make contracts)",
            context={"event_type": type_name},
        ) from exc
