"""Handlers, registered by CloudEvents type or, for raw (e.g. CDC) topics, by topic.

Register with the decorators in ``<app>/handlers.py`` (autodiscovered at start-up)::

    @handler(ORDER_CREATED, batch=True)
    def on_order_created(events: Sequence[Event]) -> None: ...

A ``batch=True`` handler receives consecutive events of its type from one poll in one call,
so it can apply them with a single statement. Handlers run inside the consumer's database
transaction; they must not commit, and should not perform network I/O.

``retry=RetryPolicy(max_attempts=..., backoff=Backoff(...))`` (``eventing.consumer.retry``)
gives a handler its own retry policy; without it the consumer's applies
(``CONSUMER_MAX_ATTEMPTS``, ``CONSUMER_BACKOFF_*``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventing.events import Event, EventIdFunction, EventType, EventTypeCatalog, catalog
from eventing.exceptions import ConfigurationError

if TYPE_CHECKING:
    from eventing.consumer.retry import RetryPolicy

HandlerFunction = Callable[..., Any]


@dataclass(frozen=True)
class Handler:
    """A registered handler and how to feed it."""

    fn: HandlerFunction
    topic: str
    batch: bool = False
    #: The event type of a CloudEvents handler (None for a raw-topic handler).
    event_type: EventType | None = None
    #: For a raw topic: derives a stable event id from (decoded value, Kafka message).
    event_id: EventIdFunction | None = None
    #: Consumer group this handler belongs to (None: every group of the service).
    group: str | None = None
    #: How a failing event of this handler is retried (None: the consumer's default policy).
    retry: RetryPolicy | None = None

    @property
    def name(self) -> str:
        return f"{self.fn.__module__}.{self.fn.__qualname__}"

    def __call__(self, events: Sequence[Event]) -> None:
        if self.batch:
            self.fn(list(events))
        else:
            for event in events:
                self.fn(event)


class HandlerRegistry:
    """Maps CloudEvents types and raw topics to handlers (one handler per key)."""

    def __init__(self, handlers: Iterable[Handler] = (), *, catalog: EventTypeCatalog | None = None) -> None:
        self._catalog = catalog
        self._by_type: dict[str, Handler] = {}
        self._by_raw_topic: dict[str, Handler] = {}
        for item in handlers:
            self.add(item)

    def add(self, item: Handler) -> Handler:
        if item.event_type is not None:
            table, key = self._by_type, item.event_type.type
        else:
            table, key = self._by_raw_topic, item.topic
        existing = table.get(key)
        if existing is not None and existing.fn is not item.fn:
            raise ConfigurationError(
                "Two handlers registered for one event type or topic",
                context={"key": key, "first": existing.name, "second": item.name},
            )
        table[key] = item
        return item

    def handler(
        self,
        event_type: EventType,
        *,
        batch: bool = False,
        group: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Callable[[HandlerFunction], HandlerFunction]:
        """Decorator: handle CloudEvents of ``event_type`` (data decoded with its schema)."""
        if self._catalog is not None:
            self._catalog.add(event_type)

        def decorate(fn: HandlerFunction) -> HandlerFunction:
            self.add(
                Handler(
                    fn=fn,
                    topic=event_type.topic,
                    batch=batch,
                    event_type=event_type,
                    group=group,
                    retry=retry,
                )
            )
            return fn

        return decorate

    def raw_handler(
        self,
        topic: str,
        *,
        event_id: EventIdFunction,
        batch: bool = False,
        group: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Callable[[HandlerFunction], HandlerFunction]:
        """Decorator: handle every record of a topic that carries no CloudEvents headers.

        ``event_id(value, message)`` must return an id that is the same each time the same
        change is delivered (e.g. derived from the WAL position), for deduplication.
        """

        def decorate(fn: HandlerFunction) -> HandlerFunction:
            self.add(Handler(fn=fn, topic=topic, batch=batch, event_id=event_id, group=group, retry=retry))
            return fn

        return decorate

    def for_type(self, type_name: str) -> Handler | None:
        return self._by_type.get(type_name)

    def for_raw_topic(self, topic: str) -> Handler | None:
        return self._by_raw_topic.get(topic)

    def all(self) -> list[Handler]:
        return [*self._by_type.values(), *self._by_raw_topic.values()]

    def for_group(self, group: str) -> HandlerRegistry:
        """The handlers a consumer of ``group`` runs (group-less handlers included)."""
        return HandlerRegistry(h for h in self.all() if h.group in (None, group))

    def for_topics(self, topics: Iterable[str]) -> HandlerRegistry:
        """The handlers of the given topics only."""
        wanted = set(topics)
        return HandlerRegistry(h for h in self.all() if h.topic in wanted)

    def topics(self) -> list[str]:
        return sorted({h.topic for h in self.all()})

    def clear(self) -> None:
        self._by_type.clear()
        self._by_raw_topic.clear()


#: The process-wide registry behind :func:`handler` and :func:`raw_handler`.
registry = HandlerRegistry(catalog=catalog)
handler = registry.handler
raw_handler = registry.raw_handler
