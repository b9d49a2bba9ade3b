"""Event declarations and the event object handed to handlers.

An :class:`EventType` is declared once, in the owning service's ``<app>/events.py``. The
declaration drives everything else: the Avro schema used to serialize, the registry subject
(``<topic>-value``), the topic the outbox connector routes to, the Kafka key, and the
CloudEvents ``type``. A consuming service declares the same contract (``owned=False``)
pointing at the same schema file, so services share contracts, never code.

``record=`` names the contract's typed record class (generated from the same ``.avsc`` into
the ``event_contracts`` package, see :mod:`eventing.codegen`): handlers then receive
``Event[ThatRecord]``, whose ``data`` is an instance of it, and ``publish()`` takes one.
Without a record, ``data`` is the decoded Avro dict.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, overload

from typing_extensions import TypeVar

from eventing.exceptions import ConfigurationError

if TYPE_CHECKING:
    from eventing.serialization.records import Record

#: The type of an event's ``data``: a record class, or the decoded dict (the default).
D = TypeVar("D", default=Any)
#: The record class of a declared event type.
R = TypeVar("R")

#: Value of the ``ce_specversion`` header.
CLOUDEVENTS_SPECVERSION = "1.0"
#: Value of the ``content-type`` header of Avro events (binary content mode).
AVRO_CONTENT_TYPE = "application/avro"


@dataclass(frozen=True)
class EventType(Generic[D]):
    """The declaration of one kind of event; ``D`` is the type of its events' ``data``.

    Several event types may share a topic and schema (e.g. ``customer_entity_state`` and
    ``customer_entity_deleted``): the subject is per topic, the CloudEvents type per event.
    """

    #: CloudEvents ``type`` (``ce_type`` header), e.g. ``"customer_entity_state"``.
    type: str
    #: Kafka topic the event is published to.
    topic: str
    #: Path of the ``.avsc`` file, relative to ``EVENTING["SCHEMA_ROOT"]`` (or absolute).
    schema: str
    #: Field of the event data whose value is the Kafka key (the aggregate id).
    key_field: str = "id"
    #: True when this service owns (publishes) the event: its schema is registered at
    #: start-up and checked for compatibility. Consumers declare ``owned=False``.
    owned: bool = True
    #: The typed record class of the schema (``event_contracts``), or None for dict data.
    record: builtins.type[D] | None = None

    @property
    def subject(self) -> str:
        """Registry subject of the value schema (TopicNameStrategy)."""
        return f"{self.topic}-value"

    def key_for(self, data: Mapping[str, Any] | Record) -> str:
        """The Kafka key of an event with this data (a mapping or a record)."""
        try:
            if isinstance(data, Mapping):
                return str(data[self.key_field])
            return str(getattr(data, self.key_field))
        except (KeyError, AttributeError):
            raise ConfigurationError(
                f"Event data has no key field {self.key_field!r}",
                context={"event_type": self.type},
            ) from None

    def schema_path(self, root: Path | None) -> Path:
        path = Path(self.schema)
        if not path.is_absolute():
            if root is None:
                raise ConfigurationError(
                    "EVENTING['SCHEMA_ROOT'] must be set to resolve relative schema paths",
                    context={"event_type": self.type, "schema": self.schema},
                )
            path = root / path
        return path

    def load_schema(self, root: Path | None) -> dict[str, Any]:
        """Read and parse the schema file as JSON (raises ConfigurationError if unreadable)."""
        path = self.schema_path(root)
        try:
            loaded: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"Cannot read Avro schema {path}: {exc}", context={"event_type": self.type}
            ) from exc
        return loaded


@dataclass(frozen=True, slots=True)
class Event(Generic[D]):
    """One event as a handler sees it: CloudEvents attributes, decoded data, Kafka position.

    ``data`` is an instance of the event type's record class when it declares one
    (``Event[OrderState]``), else the decoded Avro record (a dict); for a raw
    (non-CloudEvents) topic it is whatever the topic carries, decoded through the registry.
    """

    id: str
    type: str
    source: str
    data: D
    key: str | None = None
    time: datetime | str | None = None
    topic: str = ""
    partition: int = -1
    offset: int = -1
    headers: Mapping[str, str | None] = field(default_factory=dict)
    #: The message value as received (kept for the dead-letter topic).
    raw_value: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def traceparent(self) -> str | None:
        return self.headers.get("traceparent")


class EventTypeCatalog:
    """All event types declared in this process, by CloudEvents type.

    Declaring the same type twice with different topic/schema is an error: one type, one
    contract.
    """

    def __init__(self) -> None:
        self._by_type: dict[str, EventType] = {}

    def add(self, event_type: EventType[D]) -> EventType[D]:
        existing = self._by_type.get(event_type.type)
        if existing is not None and existing != event_type:
            raise ConfigurationError(
                "Event type declared twice with different contracts",
                context={"event_type": event_type.type},
            )
        self._by_type[event_type.type] = event_type
        return event_type

    def get(self, type_name: str) -> EventType | None:
        return self._by_type.get(type_name)

    def __iter__(self) -> Iterator[EventType]:
        return iter(list(self._by_type.values()))

    def owned(self) -> list[EventType]:
        return [et for et in self if et.owned]

    def clear(self) -> None:
        self._by_type.clear()


#: The process-wide catalog; ``declare()`` adds to it.
catalog = EventTypeCatalog()


@overload
def declare(
    type: str, *, topic: str, schema: str, key_field: str = ..., owned: bool = ..., record: None = ...
) -> EventType[dict[str, Any]]: ...
@overload
def declare(
    type: str, *, topic: str, schema: str, key_field: str = ..., owned: bool = ..., record: type[R]
) -> EventType[R]: ...
def declare(
    type: str,
    *,
    topic: str,
    schema: str,
    key_field: str = "id",
    owned: bool = True,
    record: type[Any] | None = None,
) -> EventType[Any]:
    """Declare an event type and add it to the process-wide catalog.

    Use at module level in ``<app>/events.py``::

        CUSTOMER_ENTITY_STATE = declare(
            "customer_entity_state",
            topic="public_customer_entity_events",
            schema="customer/CustomerEntityState.avsc",
            record=CustomerEntityState,  # from event_contracts: handlers get Event[CustomerEntityState]
        )
    """
    return catalog.add(
        EventType(type=type, topic=topic, schema=schema, key_field=key_field, owned=owned, record=record)
    )


#: A function deriving a stable event id from a raw (non-CloudEvents) message.
EventIdFunction = Callable[[Any, Any], str]
