"""Test helpers: handlers tested without Kafka, and the same runner against an in-memory bus.

* :func:`in_memory_registry` swaps the schema registry for an in-memory fake and resolves
  the owned schemas into it, so ``publish()`` works without a registry.
* :func:`make_event` builds the :class:`~eventing.events.Event` a handler would receive,
  with its data (a mapping or a typed record) round-tripped through the event type's Avro
  schema (so a test sees UUIDs and datetimes exactly as a real consumer does, and the event
  type's record class when it declares one).
* :func:`deliver` applies events through the real batch processor (inbox, savepoints,
  per-key order) in the test database: "given these events, expect this state".
* :class:`InMemoryBroker` with :class:`InMemoryConsumer` / :class:`InMemoryProducer` run the
  full :class:`~eventing.consumer.runner.ConsumerRunner` (retries, dead letters, commits,
  group rebalances with eager or cooperative protocol) with no Kafka.
* :func:`captured_outbox` keeps outbox rows for the block and returns them decoded (dict
  data, with the writer's schema).
* :class:`InMemoryOutboxRelay` moves committed outbox rows onto an :class:`InMemoryBroker`
  as the Debezium outbox connector does (topic, key, headers, value), for tests that read
  what ``publish()`` puts on a topic without Kafka Connect.
* :class:`InMemoryReplayConsumer` reads an :class:`InMemoryBroker` the way
  :class:`~eventing.replay.TopicReplay` reads Kafka (assigned partitions, no group).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.test import override_settings

from eventing.conf import eventing_settings
from eventing.consumer.processing import BatchProcessor, BatchResult
from eventing.consumer.registry import HandlerRegistry
from eventing.consumer.registry import registry as default_registry
from eventing.events import AVRO_CONTENT_TYPE, CLOUDEVENTS_SPECVERSION, D, Event, EventType
from eventing.exceptions import SchemaNotRegistered
from eventing.runtime import get_codec, runtime, use_registry
from eventing.schemas import register
from eventing.serialization.avro import AvroCodec
from eventing.serialization.registry import InMemorySchemaRegistry

if TYPE_CHECKING:
    from eventing.serialization.records import Record

__all__ = [
    "InMemoryBroker",
    "InMemoryConsumer",
    "InMemoryMessage",
    "InMemoryOutboxRelay",
    "InMemoryProducer",
    "InMemoryReplayConsumer",
    "InMemorySchemaRegistry",
    "captured_outbox",
    "cloudevent_message",
    "deliver",
    "eventually",
    "in_memory_registry",
    "make_event",
]


def eventually(
    condition: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds.

    For asserting on eventually consistent state in tests: never wait a fixed time.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}: last={last!r}")
        threading.Event().wait(interval)


@contextlib.contextmanager
def in_memory_registry(
    event_types: Sequence[EventType] | None = None,
) -> Iterator[InMemorySchemaRegistry]:
    """Use an in-memory schema registry for the block, with owned schemas registered."""
    fake = InMemorySchemaRegistry()
    use_registry(fake)
    try:
        register(event_types, registry=fake)
        yield fake
    finally:
        use_registry(None)


def _encoded(event_type: EventType[Any], data: Mapping[str, Any] | Record) -> bytes:
    """Encode as the producer would; registers a consumed type's schema if needed."""
    try:
        resolved = runtime.resolved(event_type)
    except SchemaNotRegistered:
        (resolved,) = register([event_type], registry=runtime.registry())
    return AvroCodec.encode(resolved.schema_id, resolved.parsed, data)


def make_event(
    event_type: EventType[D],
    data: Mapping[str, Any] | Record,
    *,
    event_id: str | None = None,
    key: str | None = None,
    source: str = "/tests",
    topic: str | None = None,
    partition: int = 0,
    offset: int = 0,
) -> Event[D]:
    """The Event a consumer would hand to its handler for ``data`` (Avro round trip).

    ``data`` is the Avro datum or a record; the event's data is what the consumer decodes:
    an instance of the event type's record class if it declares one, else a dict.
    """
    payload = _encoded(event_type, data)
    decoded = get_codec().decode(payload, runtime.reader_schema(event_type))
    if event_type.record is not None:
        decoded = event_type.record(**decoded)
    return Event(
        id=event_id or str(uuid.uuid4()),
        type=event_type.type,
        source=source,
        data=decoded,
        key=key if key is not None else event_type.key_for(data),
        topic=topic or event_type.topic,
        partition=partition,
        offset=offset,
        headers={"ce_type": event_type.type},
        raw_value=payload,
    )


def deliver(
    events: Sequence[Event[Any]], *, group: str = "tests", handlers: HandlerRegistry | None = None
) -> BatchResult:
    """Apply ``events`` as one consumer batch of ``group`` (inbox, order, isolation)."""
    registry = handlers or default_registry.for_group(group)
    return BatchProcessor(group, registry).process(list(events))


@contextlib.contextmanager
def captured_outbox() -> Iterator[list[Event[dict[str, Any]]]]:
    """Keep outbox rows during the block; on exit, fill the yielded list with them, decoded.

    Only committed rows are seen, so a rolled-back ``publish`` leaves nothing.
    """
    from eventing.outbox.models import OutboxEvent

    captured: list[Event[dict[str, Any]]] = []
    start = set(OutboxEvent.objects.values_list("id", flat=True))
    overridden = {**eventing_settings.user_settings, "OUTBOX_DELETE_AFTER_INSERT": False}
    with override_settings(EVENTING=overridden):
        yield captured
    rows = OutboxEvent.objects.exclude(id__in=start).order_by("created_at", "id")
    codec = get_codec()
    for row in rows:
        captured.append(
            Event(
                id=str(row.id),
                type=row.type,
                source=row.source,
                data=codec.decode(bytes(row.payload)),
                key=row.key,
                time=row.time,
                topic=row.topic,
                headers={
                    "ce_specversion": row.specversion,
                    "ce_id": str(row.id),
                    "ce_source": row.source,
                    "ce_type": row.type,
                    "ce_time": row.time,
                    "content-type": row.content_type,
                    "ce_dataschema": row.dataschema,
                    "traceparent": row.traceparent,
                },
                raw_value=bytes(row.payload),
            )
        )
    OutboxEvent.objects.filter(id__in=[e.id for e in captured]).delete()


class InMemoryOutboxRelay:
    """The outbox connector in memory: committed outbox rows onto an :class:`InMemoryBroker`.

    Each :meth:`relay` produces the rows committed since the previous one (rows already in
    the outbox when the relay was made are not relayed), oldest first (``created_at``, the
    insert order of one transaction), as the Debezium EventRouter of
    :func:`eventing.connect.debezium.outbox_connector` would: to the row's ``topic``, keyed by
    its ``key`` (UTF-8), the ``payload`` as value untouched, and the headers that connector
    places (``OUTBOX_HEADER_PLACEMENT``: the CloudEvents attributes, ``traceparent`` and
    ``ce_partitionkey``), nothing else. Rows must be kept for it to read them, so while the
    relay is used as a context manager ``OUTBOX_DELETE_AFTER_INSERT`` is off.

    It reads through the default connection, so it runs outside ``transaction.atomic()``
    (in a ``django_db(transaction=True)`` test): inside one it would see uncommitted rows.
    """

    def __init__(self, broker: InMemoryBroker, *, using: str = "default") -> None:
        from eventing.outbox.models import OutboxEvent

        self.broker = broker
        self.using = using
        self._seen: set[uuid.UUID] = set(OutboxEvent.objects.using(using).values_list("id", flat=True))
        self._settings: Any = None

    def __enter__(self) -> InMemoryOutboxRelay:
        overridden = {**eventing_settings.user_settings, "OUTBOX_DELETE_AFTER_INSERT": False}
        self._settings = override_settings(EVENTING=overridden)
        self._settings.enable()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._settings.disable()

    def relay(self) -> list[InMemoryMessage]:
        """Produce the rows committed since the last call; return the messages, in order."""
        from django.db import connections

        from eventing.connect.debezium import OUTBOX_HEADER_PLACEMENT
        from eventing.outbox.models import OutboxEvent

        if connections[self.using].in_atomic_block:
            raise RuntimeError(
                "InMemoryOutboxRelay.relay() reads committed rows: call it outside transaction.atomic() "
                "(in a django_db(transaction=True) test)"
            )
        placement = [entry.split(":") for entry in OUTBOX_HEADER_PLACEMENT.split(",")]
        rows = OutboxEvent.objects.using(self.using).exclude(id__in=self._seen).order_by("created_at", "id")
        produced: list[InMemoryMessage] = []
        for row in rows:
            headers: list[tuple[str, bytes | None]] = []
            for column, _placement, name in placement:
                value = getattr(row, column)
                headers.append((name, None if value is None else str(value).encode()))
            produced.append(self.broker.produce(row.topic, bytes(row.payload), row.key.encode(), headers))
            self._seen.add(row.id)
        return produced


# -- the in-memory bus ---------------------------------------------------------------------


@dataclass
class InMemoryMessage:
    """A message with the accessor methods of ``confluent_kafka.Message``."""

    _topic: str
    _partition: int
    _offset: int
    _key: bytes | None
    _value: bytes | None
    _headers: list[tuple[str, bytes | None]] = field(default_factory=list)

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes | None]]:
        return list(self._headers)

    def error(self) -> None:
        return None


class InMemoryBroker:
    """Topics of partitions held in memory; keys hash to partitions like Kafka (per key order).

    Consumers of one group share its partitions: a member joining or leaving rebalances the
    group, and each member learns of it inside its next ``consume()`` call, through its
    ``on_revoke`` / ``on_assign`` / ``on_lost`` callbacks, as with librdkafka.
    """

    def __init__(self, partitions: int = 3) -> None:
        self.partitions = partitions
        self.topics: dict[str, list[list[InMemoryMessage]]] = {}
        self.committed: dict[tuple[str, str, int], int] = {}
        self.members: dict[str, list[InMemoryConsumer]] = {}
        #: Commits of a partition by a member that did not own it then: (group, topic, partition, offset).
        self.foreign_commits: list[tuple[str, str, int, int]] = []

    def _topic(self, name: str) -> list[list[InMemoryMessage]]:
        return self.topics.setdefault(name, [[] for _ in range(self.partitions)])

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes | None]] = (),
        partition: int | None = None,
    ) -> InMemoryMessage:
        partitions = self._topic(topic)
        index = zlib.crc32(key) % self.partitions if key is not None else 0
        if partition is not None:
            index = partition
        message = InMemoryMessage(topic, index, len(partitions[index]), key, value, list(headers))
        partitions[index].append(message)
        return message

    def messages(self, topic: str) -> list[InMemoryMessage]:
        """All messages of ``topic``, partition by partition."""
        return list(itertools.chain.from_iterable(self.topics.get(topic, [])))

    # -- the topic source of eventing.redrive (list topics, read one whole) ----------------

    def list_topics(self) -> list[str]:
        return sorted(self.topics)

    def read(self, topic: str) -> list[InMemoryMessage]:
        return self.messages(topic)

    # -- group coordination ---------------------------------------------------------------

    def join(self, consumer: InMemoryConsumer) -> None:
        self.members.setdefault(consumer.group, []).append(consumer)
        self.rebalance(consumer.group)

    def leave(self, consumer: InMemoryConsumer) -> None:
        members = self.members.get(consumer.group, [])
        if consumer in members:
            members.remove(consumer)
            self.rebalance(consumer.group)

    def rebalance(self, group: str) -> None:
        """Spread the group's partitions over its members (round robin, in join order)."""
        members = self.members.get(group, [])
        topics = sorted({t for m in members for t in m.topics})
        partitions = [(t, p) for t in topics for p in range(self.partitions)]
        for member in members:
            member._target = set()
        for index, tp in enumerate(partitions):
            candidates = [m for m in members if tp[0] in m.topics]
            if candidates:
                candidates[index % len(candidates)]._target.add(tp)
        for member in members:
            member._rebalance_pending = True

    def owner(self, group: str, topic: str, partition: int) -> InMemoryConsumer | None:
        """The member the last rebalance gave the partition to (it may not have polled yet)."""
        for member in self.members.get(group, []):
            if (topic, partition) in member._target:
                return member
        return None


class _TopicPartition:
    def __init__(self, topic: str, partition: int, offset: int = -1) -> None:
        self.topic, self.partition, self.offset = topic, partition, offset

    def __repr__(self) -> str:
        return f"TopicPartition({self.topic!r}, {self.partition}, {self.offset})"


def _take(
    broker: InMemoryBroker,
    positions: dict[tuple[str, int], int],
    paused: set[tuple[str, int]],
    num_messages: int,
) -> list[InMemoryMessage]:
    """Up to ``num_messages`` from the unpaused partitions at ``positions``, advancing them."""
    batch: list[InMemoryMessage] = []
    for (topic, partition), position in sorted(positions.items()):
        if (topic, partition) in paused:
            continue
        taken = broker._topic(topic)[partition][position : position + num_messages - len(batch)]
        batch.extend(taken)
        positions[(topic, partition)] = position + len(taken)
        if len(batch) >= num_messages:
            break
    return batch


class InMemoryConsumer:
    """A member of a consumer group on an :class:`InMemoryBroker`.

    ``protocol`` is ``"eager"`` (every rebalance revokes the whole assignment, then assigns
    the new one) or ``"cooperative"`` (only partitions that move are revoked or assigned).
    Rebalance callbacks run inside :meth:`consume`, before it fetches, as librdkafka's do.
    """

    def __init__(self, broker: InMemoryBroker, group: str, *, protocol: str = "eager") -> None:
        if protocol not in ("eager", "cooperative"):
            raise ValueError(f"protocol must be 'eager' or 'cooperative', not {protocol!r}")
        self.broker = broker
        self.group = group
        self.protocol = protocol
        self.topics: list[str] = []
        self.owned: set[tuple[str, int]] = set()
        self.positions: dict[tuple[str, int], int] = {}
        self.paused: set[tuple[str, int]] = set()
        self.closed = False
        self.commits = 0
        self._callbacks: dict[str, Any] = {}
        self._target: set[tuple[str, int]] = set()
        self._rebalance_pending = False
        self._lost_pending = False

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.topics = list(topics)
        self._callbacks = callbacks
        self.broker.join(self)

    def lose_assignment(self) -> None:
        """Simulate a missed session timeout: the next consume() reports every partition lost."""
        self._lost_pending = True

    def _serve_rebalance(self) -> None:
        if self._lost_pending:
            self._lost_pending = False
            lost, self.owned = sorted(self.owned), set()
            for tp in lost:
                self.positions.pop(tp, None)
            self._callback("on_lost", lost)
            self._rebalance_pending = True
        if not self._rebalance_pending:
            return
        self._rebalance_pending = False
        target = set(self._target)
        if self.protocol == "eager":
            revoked, assigned = sorted(self.owned), sorted(target)
        else:
            revoked, assigned = sorted(self.owned - target), sorted(target - self.owned)
        if revoked:
            self._callback("on_revoke", revoked)
            for tp in revoked:
                self.owned.discard(tp)
                self.positions.pop(tp, None)
                self.paused.discard(tp)
        for tp in assigned:
            self.owned.add(tp)
            self.positions[tp] = self.broker.committed.get((self.group, *tp), 0)
        if assigned:
            self._callback("on_assign", assigned)

    def _callback(self, name: str, partitions: list[tuple[str, int]]) -> None:
        callback = self._callbacks.get(name)
        if callback is not None:
            callback(self, [_TopicPartition(t, p) for t, p in partitions])

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[InMemoryMessage]:
        self._serve_rebalance()
        return _take(self.broker, self.positions, self.paused, num_messages)

    def commit(self, *, offsets: list[Any], asynchronous: bool = True) -> None:
        self.commits += 1
        for tp in offsets:
            if (tp.topic, tp.partition) not in self.owned:
                self.broker.foreign_commits.append((self.group, tp.topic, tp.partition, tp.offset))
            self.broker.committed[(self.group, tp.topic, tp.partition)] = tp.offset

    def pause(self, partitions: list[Any]) -> None:
        self.paused.update((p.topic, p.partition) for p in partitions)

    def resume(self, partitions: list[Any]) -> None:
        self.paused.difference_update((p.topic, p.partition) for p in partitions)

    def assignment(self) -> list[_TopicPartition]:
        return [_TopicPartition(t, p) for t, p in sorted(self.owned)]

    def crash(self) -> None:
        """Die without a word (SIGKILL): no callbacks, no commit; the group rebalances."""
        self.owned.clear()
        self.positions.clear()
        self.closed = True
        self.broker.leave(self)

    def close(self) -> None:
        """Revoke the assignment (callbacks run, as librdkafka's close does) and leave."""
        if self.closed:
            return
        if self.owned:
            self._callback("on_revoke", sorted(self.owned))
        self.owned.clear()
        self.positions.clear()
        self.closed = True
        self.broker.leave(self)


class InMemoryProducer:
    """Produces into an :class:`InMemoryBroker`; ``fail`` makes deliveries fail (Kafka down)."""

    def __init__(self, broker: InMemoryBroker) -> None:
        self.broker = broker
        self.fail = False
        self._callbacks: list[Any] = []

    def produce(self, topic: str, value: Any = None, key: Any = None, **kwargs: Any) -> None:
        callback = kwargs.get("on_delivery")
        if self.fail:
            if callback:
                self._callbacks.append((callback, "broker unavailable"))
            return
        self.broker.produce(topic, value, key, kwargs.get("headers") or (), kwargs.get("partition"))
        if callback:
            self._callbacks.append((callback, None))

    def flush(self, timeout: float = -1) -> int:
        callbacks, self._callbacks = self._callbacks, []
        for callback, error in callbacks:
            callback(error, None)
        return 0

    def poll(self, timeout: float = 0) -> int:
        return self.flush()


def cloudevent_message(
    broker: InMemoryBroker,
    event_type: EventType[Any],
    data: Mapping[str, Any] | Record,
    *,
    event_id: str | None = None,
    source: str = "/tests",
    headers: Mapping[str, str] | None = None,
) -> InMemoryMessage:
    """Put a CloudEvent on the in-memory bus exactly as the outbox connector would."""
    event_id = event_id or str(uuid.uuid4())
    ce_headers = {
        "ce_specversion": CLOUDEVENTS_SPECVERSION,
        "ce_id": event_id,
        "ce_source": source,
        "ce_type": event_type.type,
        "content-type": AVRO_CONTENT_TYPE,
        **(headers or {}),
    }
    return broker.produce(
        event_type.topic,
        _encoded(event_type, data),
        event_type.key_for(data).encode(),
        [(k, v.encode()) for k, v in ce_headers.items()],
    )


class InMemoryReplayConsumer:
    """Assigned partitions of an :class:`InMemoryBroker`, no group: what a replay uses."""

    def __init__(self, broker: InMemoryBroker) -> None:
        self.broker = broker
        self.positions: dict[tuple[str, int], int] = {}
        self.paused: set[tuple[str, int]] = set()
        self.closed = False

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        from types import SimpleNamespace

        names = [topic] if topic else list(self.broker.topics)
        partitions = dict.fromkeys(range(self.broker.partitions))
        return SimpleNamespace(
            topics={
                name: SimpleNamespace(partitions=partitions, error=None)
                for name in names
                if name in self.broker.topics
            }
        )

    def get_watermark_offsets(
        self, partition: Any, timeout: float | None = None, cached: bool = False
    ) -> tuple[int, int]:
        return 0, len(self.broker._topic(partition.topic)[partition.partition])

    def assign(self, partitions: list[Any]) -> None:
        self.positions = {(tp.topic, tp.partition): max(tp.offset, 0) for tp in partitions}

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[InMemoryMessage]:
        return _take(self.broker, self.positions, self.paused, num_messages)

    def pause(self, partitions: list[Any]) -> None:
        self.paused.update((tp.topic, tp.partition) for tp in partitions)

    def resume(self, partitions: list[Any]) -> None:
        self.paused.difference_update((tp.topic, tp.partition) for tp in partitions)

    def close(self) -> None:
        self.closed = True
