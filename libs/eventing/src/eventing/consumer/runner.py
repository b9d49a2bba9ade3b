"""The consumer loop: Kafka in, database effects out, at-least-once in, exactly-once effect.

Per poll: decode the batch (poison goes to the dead-letter topic at once), apply it in one
transaction (:class:`~eventing.consumer.processing.BatchProcessor`), hold back the keys
whose handler failed (their later events wait behind them, other keys go on), retry held
keys with bounded backoff, dead-letter an event whose attempts are exhausted, and commit,
per partition, the lowest offset not yet finished (only after the database commit).

**The offset invariant.** An offset is committed only after the event at it, and every
earlier one of its partition, was applied (or dead-lettered) in a committed transaction, and
only by the member that owns the partition at that moment. Rebalance callbacks
(``on_assign`` / ``on_revoke`` / ``on_lost``) run *inside* ``consumer.consume()``, so any
state they change may change in the middle of :meth:`ConsumerRunner._poll`. Hence:

* the runner's containers are edited in place, never rebound, by the callbacks (a rebinding
  once sent a whole polled batch into a discarded deque, while later offsets of its
  partition were committed past it: the loss of issue 11);
* what a poll returns is kept only for partitions owned *after* the poll's last
  ``consume()`` call (a message fetched before a revoke belongs to the new owner, who
  re-reads it from the committed offset), and progress is recorded only for owned partitions;
* ``on_revoke`` commits, synchronously, what is finished of the revoked partitions, then
  forgets their held and pending events (never committed past them); ``on_lost`` commits
  nothing, since another member may own them already;
* the same holds for the eager, the cooperative-sticky and the KIP-848
  (``group.protocol=consumer``) protocols: the callbacks receive exactly the partitions that
  change hands, and the runner tracks ownership from them alone.

Kafka and the producer are ports: ``confluent_kafka`` in production, the in-memory bus of
``eventing.testing`` in fast tests.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from django.db import close_old_connections

from eventing.consumer.decoding import Message, MessageDecoder, Poison, headers_of
from eventing.consumer.middleware import MiddlewareChain, load_middleware
from eventing.consumer.processing import (
    BatchProcessor,
    BatchResult,
    DatabaseUnavailable,
    Outcome,
    log_fields,
    ordering_key,
)
from eventing.consumer.registry import HandlerRegistry
from eventing.consumer.retry import Backoff, HeldKey
from eventing.events import Event
from eventing.exceptions import SchemaRegistryUnavailable
from eventing.metrics import event_time
from eventing.serialization.avro import AvroCodec

logger = logging.getLogger(__name__)

TopicPartitionKey = tuple[str, int]


class ConsumerPort(Protocol):
    """The subset of ``confluent_kafka.Consumer`` the runner uses."""

    def subscribe(self, topics: list[str], **callbacks: Any) -> None: ...
    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Any]: ...
    def commit(self, *, offsets: list[Any], asynchronous: bool = True) -> Any: ...
    def pause(self, partitions: list[Any]) -> None: ...
    def resume(self, partitions: list[Any]) -> None: ...
    def assignment(self) -> list[Any]: ...
    def close(self) -> None: ...


class ProducerPort(Protocol):
    """The subset of ``confluent_kafka.Producer`` the dead-letter publisher uses."""

    def produce(self, topic: str, value: Any = None, key: Any = None, **kwargs: Any) -> None: ...
    def flush(self, timeout: float = -1) -> int: ...
    def poll(self, timeout: float = 0) -> int: ...


@dataclass
class RunnerConfig:
    """Tuning of one consumer (defaults from ``settings.EVENTING``)."""

    batch_size: int = 500
    poll_timeout: float = 0.5
    max_attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    max_pending: int = 10_000
    dead_letter_topic: str = "{group}.{topic}.dlt"
    status_interval: float = 5.0
    inbox_retention: float = 7 * 24 * 3600
    inbox_purge_interval: float = 3600.0


@dataclass
class Counters:
    """Running totals, reported in the consumer status row and in logs."""

    applied: int = 0
    duplicates: int = 0
    skipped: int = 0
    retried: int = 0
    dead_lettered: int = 0
    batches: int = 0
    #: Sum of the end-to-end latencies (seconds) of the applied events that had a ce_time, and
    #: how many they were: the status row's recent latency is the mean of an interval's delta.
    latency_seconds: float = 0.0
    latency_events: int = 0


class DeadLetterError(Exception):
    """The dead-letter topic could not be written (Kafka down): retry later, commit nothing."""


class DeadLetterPublisher:
    """Writes a failed message to ``<group>.<topic>.dlt`` with headers saying why.

    Synchronous (flush per call): the source offset is committed only after the dead
    letter is durably in Kafka. At-least-once: a crash between the two can write it twice.
    """

    def __init__(self, producer: ProducerPort, group: str, topic_template: str) -> None:
        self.producer = producer
        self.group = group
        self.topic_template = topic_template

    def topic_for(self, source_topic: str) -> str:
        return self.topic_template.format(group=self.group, topic=source_topic)

    def publish(self, message: Message, *, reason: str, error: BaseException, attempts: int) -> str:
        topic = self.topic_for(message.topic() or "")
        failure = [
            ("dlt.reason", reason),
            ("dlt.exception.type", f"{type(error).__module__}.{type(error).__qualname__}"),
            ("dlt.exception.message", str(error)[:4000]),
            (
                "dlt.exception.stacktrace",
                "".join(traceback.format_exception(error))[-8000:],
            ),
            ("dlt.original.topic", message.topic() or ""),
            ("dlt.original.partition", str(message.partition())),
            ("dlt.original.offset", str(message.offset())),
            ("dlt.consumer.group", self.group),
            ("dlt.attempts", str(attempts)),
            ("dlt.failed_at", datetime.now(UTC).isoformat()),
        ]
        headers = [(k, v) for k, v in (message.headers() or ())]
        headers.extend((k, v.encode()) for k, v in failure)
        errors: list[Any] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(err)

        self.producer.produce(
            topic,
            value=message.value(),
            key=message.key(),
            headers=headers,
            on_delivery=on_delivery,
        )
        remaining = self.producer.flush(10.0)
        if remaining or errors:
            raise DeadLetterError(f"Could not write to {topic}: {errors or 'flush timed out'}")
        return topic


@dataclass
class _PartitionProgress:
    """Offsets of one partition: highest seen, and those not finished yet."""

    next_offset: int = -1
    committed: int = -1


class ConsumerRunner:
    """Runs one consumer group member until :meth:`stop` (or SIGTERM via the command)."""

    def __init__(
        self,
        *,
        group: str,
        handlers: HandlerRegistry,
        consumer: ConsumerPort,
        producer: ProducerPort,
        codec: AvroCodec,
        config: RunnerConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], object] | None = None,
        status_reporter: Callable[[ConsumerRunner], None] | None = None,
        middleware: Sequence[Any] | None = None,
    ) -> None:
        self.group = group
        self.handlers = handlers
        self.consumer = consumer
        self.config = config or RunnerConfig()
        self.processor = BatchProcessor(group, handlers)
        self.decoder = MessageDecoder(handlers, codec)
        self.dead_letters = DeadLetterPublisher(producer, group, self.config.dead_letter_topic)
        self.counters = Counters()
        self.member = f"{group}/{socket.gethostname()}/{os.getpid()}"
        self._clock = clock
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait
        self._held: dict[tuple[str, str | None], HeldKey] = {}
        self._progress: dict[TopicPartitionKey, _PartitionProgress] = {}
        # Polled messages not yet applied (kept while the database or the dead-letter topic is
        # unavailable). Rebalance callbacks edit it in place: never rebind it.
        self._pending: deque[Any] = deque()
        # Partitions this member owns, from the rebalance callbacks alone.
        self._owned: set[TopicPartitionKey] = set()
        self._paused = False
        self._repause = False
        self._infra_failures = 0
        self._status_reporter = status_reporter
        self._next_status = 0.0
        self._next_purge = clock() + self.config.inbox_purge_interval
        self.started_at = datetime.now(UTC)
        self.closed = False
        if middleware is None:
            from eventing.conf import eventing_settings

            middleware = load_middleware(eventing_settings.CONSUMER_MIDDLEWARE)
        #: Plug-ins called around batches and per outcome (``eventing.consumer.middleware``).
        self.middleware = MiddlewareChain(middleware)

    # -- lifecycle ------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand, commit, and return."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Subscribe and loop until stopped; always commits and closes on the way out."""
        self.subscribe()
        try:
            while not self._stop.is_set():
                self.run_once()
        finally:
            self.close()

    def subscribe(self) -> None:
        """Join the group for the handlers' topics (rebalance callbacks commit and forget)."""
        topics = self.handlers.topics()
        logger.info("consumer starting", extra={"group": self.group, "topics": topics})
        self.consumer.subscribe(
            topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )

    def run_once(self) -> None:
        """One iteration: poll, apply, retry due keys, commit, report."""
        close_old_connections()
        try:
            if not self._pending:
                # Poll first, then extend: the poll may run callbacks that edit _pending.
                batch = self._poll()
                self._pending.extend(batch)
            if self._pending:
                self._handle(list(self._pending))
                self._pending.clear()
            self._retry_due()
            self._infra_failures = 0
        except (DatabaseUnavailable, SchemaRegistryUnavailable, DeadLetterError) as exc:
            self._wait_for_infrastructure(exc)
        self._commit(asynchronous=True)
        self._apply_backpressure()
        self._report()

    # -- the work -------------------------------------------------------------------------

    def _poll(self) -> list[Any]:
        """A batch without added latency: what is already fetched, else wait for one message.

        ``consume(n, timeout)`` alone blocks until n messages *or* the timeout, so a lone
        event would wait the whole timeout at every hop.
        """
        size = self.config.batch_size
        batch = self.consumer.consume(size, 0)
        if not batch:
            batch = self.consumer.consume(1, self._poll_timeout())
            if batch and size > 1:
                batch.extend(self.consumer.consume(size - 1, 0))
        # A revoke in a later consume() call disowns what an earlier one returned.
        owned = [m for m in batch if m.error() is not None or (m.topic(), m.partition()) in self._owned]
        if len(owned) < len(batch):
            logger.info(
                "dropped %d fetched messages of partitions revoked meanwhile (their new owner reads them)",
                len(batch) - len(owned),
                extra={"group": self.group},
            )
        return owned

    def _handle(self, messages: list[Any]) -> None:
        fresh: list[Event] = []
        for message in messages:
            if message.error() is not None:
                logger.warning("kafka error: %s", message.error(), extra={"group": self.group})
                continue
            self._seen(message.topic(), message.partition(), message.offset())
            decoded = self.decoder.decode(message)
            if isinstance(decoded, Poison):
                self._dead_letter_poison(decoded)
                continue
            held = self._held.get(ordering_key(decoded))
            if held is not None:
                held.events.append(decoded)  # keep the key's order behind its failed head
            else:
                fresh.append(decoded)
        if fresh:
            self._apply(fresh)

    def _apply(self, events: list[Event]) -> None:
        result = self._process(events, retry=False)
        self.counters.batches += 1
        for index, (event, outcome) in enumerate(zip(events, result.outcomes, strict=True)):
            self._count(outcome, event)
            if outcome is Outcome.FAILED:
                self._hold(event, result.errors[index])
            elif outcome is Outcome.DEFERRED:
                self._held[ordering_key(event)].events.append(event)
            elif outcome is Outcome.SKIPPED:
                logger.info("no handler for event type; skipped", extra=log_fields(event, self.group))

    def _hold(self, event: Event, error: BaseException) -> None:
        held = HeldKey(events=deque([event]), attempts=1, last_error=error)
        held.due_at = self._clock() + self.config.backoff.delay(1)
        self._held[ordering_key(event)] = held

    def _retry_due(self) -> None:
        now = self._clock()
        for key, held in list(self._held.items()):
            if held.due_at > now or self._stop.is_set():
                continue
            self._retry(key, held)

    def _retry(self, key: tuple[str, str | None], held: HeldKey) -> None:
        while held.events:
            if held.attempts >= self.config.max_attempts:
                self._dead_letter_head(held)
                continue
            head = held.head
            self.counters.retried += 1
            self.middleware.call("on_retry", self, head)
            events = list(held.events)
            result = self._process(events, retry=True)
            finished = 0
            for event, outcome in zip(events, result.outcomes, strict=True):
                if outcome in (Outcome.FAILED, Outcome.DEFERRED):
                    break
                self._count(outcome, event)
                finished += 1
            for _ in range(finished):
                held.events.popleft()
            if not held.events:
                break
            failure = result.errors.get(finished)
            held.attempts = held.attempts + 1 if held.head is head else 1
            held.last_error = failure or held.last_error
            if held.attempts < self.config.max_attempts:
                held.due_at = self._clock() + self.config.backoff.delay(held.attempts)
                return
        self._held.pop(key, None)

    def _dead_letter_head(self, held: HeldKey) -> None:
        event = held.head
        message = _EventMessage(event)
        error = held.last_error or RuntimeError("handler failed")
        topic = self.dead_letters.publish(
            message, reason="handler_failed", error=error, attempts=held.attempts
        )
        self.processor.record_dead_letter(event)
        self.counters.dead_lettered += 1
        self.middleware.call("on_dead_letter", self, event.topic, event.type, "handler_failed")
        logger.error(
            "event dead-lettered after %d attempts: %s",
            held.attempts,
            error,
            extra={**log_fields(event, self.group), "dead_letter_topic": topic},
        )
        held.events.popleft()
        held.attempts = 0  # the next event of this key gets a fresh set of attempts
        held.last_error = None
        held.due_at = self._clock()

    def _dead_letter_poison(self, poison: Poison) -> None:
        message = poison.message
        headers = headers_of(message)
        # Recorded in the inbox like a failed event, so a replay does not dead-letter it twice.
        event_id = headers.get("ce_id") or (
            f"poison:{message.topic()}/{message.partition()}/{message.offset()}"
        )
        if not self.processor.poison_wanted(event_id, headers):
            self.counters.duplicates += 1
            logger.info(
                "undecodable message already dead-lettered; skipped",
                extra={
                    "group": self.group,
                    "event_id": event_id,
                    "topic": message.topic(),
                    "partition": message.partition(),
                    "offset": message.offset(),
                },
            )
            return
        topic = self.dead_letters.publish(
            poison.message, reason=poison.reason, error=poison.error, attempts=0
        )
        self.processor.record_poison(
            event_id,
            topic=message.topic() or "",
            partition=message.partition() or 0,
            offset=message.offset() or 0,
            headers=headers,
        )
        self.counters.dead_lettered += 1
        self.middleware.call("on_dead_letter", self, message.topic() or "", None, poison.reason)
        logger.error(
            "message dead-lettered (%s): %s",
            poison.reason,
            poison.error,
            extra={
                "group": self.group,
                "topic": message.topic(),
                "partition": message.partition(),
                "offset": message.offset(),
                "dead_letter_topic": topic,
            },
        )

    def _process(self, events: list[Event], *, retry: bool) -> BatchResult:
        """One transaction of the processor, with the middleware's hooks around it."""
        self.middleware.call("before_batch", self, events, retry=retry)
        started = time.perf_counter()
        result = self.processor.process(events)
        self.middleware.call("after_batch", self, events, result, time.perf_counter() - started, retry=retry)
        return result

    def _count(self, outcome: Outcome, event: Event) -> None:
        if outcome in (Outcome.APPLIED, Outcome.DUPLICATE, Outcome.SKIPPED):
            self.middleware.call("on_outcome", self, event, outcome)
        if outcome is Outcome.APPLIED:
            self.counters.applied += 1
            moment = event_time(event)
            if moment is not None:
                self.counters.latency_seconds += max(time.time() - moment.timestamp(), 0.0)
                self.counters.latency_events += 1
        elif outcome is Outcome.DUPLICATE:
            self.counters.duplicates += 1
        elif outcome is Outcome.SKIPPED:
            self.counters.skipped += 1

    # -- offsets ----------------------------------------------------------------------------

    def _seen(self, topic: str | None, partition: int | None, offset: int | None) -> None:
        if topic is None or partition is None or offset is None:
            return
        if (topic, partition) not in self._owned:
            return  # never record progress of a partition someone else may own
        progress = self._progress.setdefault((topic, partition), _PartitionProgress())
        progress.next_offset = max(progress.next_offset, offset + 1)

    def commit_positions(self) -> dict[TopicPartitionKey, int]:
        """Per partition, the offset to commit: the lowest unfinished offset, else the next one.

        Unfinished: held for retry, or polled but not yet applied (e.g. while the database
        or the dead-letter topic is unavailable).
        """
        lowest: dict[TopicPartitionKey, int] = {}
        unfinished = [(e.topic, e.partition, e.offset) for h in self._held.values() for e in h.events]
        unfinished.extend((m.topic(), m.partition(), m.offset()) for m in self._pending)
        for topic, partition, offset in unfinished:
            tp = (topic, partition)
            lowest[tp] = min(lowest.get(tp, offset), offset)
        positions: dict[TopicPartitionKey, int] = {}
        for tp, progress in self._progress.items():
            if progress.next_offset < 0:
                continue
            positions[tp] = lowest.get(tp, progress.next_offset)
        return positions

    def _commit(
        self,
        *,
        asynchronous: bool,
        only: Iterable[TopicPartitionKey] | None = None,
        force: bool = False,
    ) -> None:
        """Commit the finished positions of owned partitions (``force``: even if sent before).

        An asynchronous commit may still fail after it was sent (e.g. in a rebalance), so the
        revoke commits again, synchronously, whatever was sent.
        """
        from confluent_kafka import TopicPartition

        wanted = set(only) if only is not None else None
        offsets = []
        for tp, position in self.commit_positions().items():
            if wanted is not None and tp not in wanted:
                continue
            if tp not in self._owned:
                continue
            progress = self._progress[tp]
            if force or position > progress.committed:
                offsets.append(TopicPartition(tp[0], tp[1], position))
                progress.committed = position
        if not offsets:
            return
        try:
            self.consumer.commit(offsets=offsets, asynchronous=asynchronous)
        except Exception as exc:  # KafkaException: e.g. during a rebalance
            logger.warning("offset commit failed: %s", exc, extra={"group": self.group})
            for tp_obj in offsets:
                self._progress[(tp_obj.topic, tp_obj.partition)].committed = -1

    def on_commit(self, error: Any, partitions: list[Any]) -> None:
        """Result of an asynchronous commit (librdkafka's ``on_commit``, served in consume()).

        A commit that failed (e.g. sent during a cooperative rebalance, when no revoke follows
        to commit again) is sent again by the next loop: without this the partition's last
        position may never reach the broker once its backlog is drained.
        """
        failed = [p for p in partitions if error is not None or getattr(p, "error", None) is not None]
        if not failed:
            return
        logger.warning(
            "offset commit failed, will retry: %s",
            error or failed[0].error,
            extra={"group": self.group, "partitions": [(p.topic, p.partition) for p in failed]},
        )
        for tp in failed:
            progress = self._progress.get((tp.topic, tp.partition))
            if progress is not None and progress.committed <= tp.offset:
                progress.committed = -1

    # -- rebalance and back-pressure --------------------------------------------------------

    # These run inside consumer.consume() (and close()): edit state in place, never rebind it.

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        """Eager: the whole new assignment; incremental protocols: the partitions added."""
        assigned = {(p.topic, p.partition) for p in partitions}
        self._owned.update(assigned)
        if self._paused:
            self._repause = True  # new partitions must not flow while held events pile up
        logger.info("partitions assigned: %s", sorted(assigned), extra={"group": self.group})

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        """Commit what is finished of the revoked partitions, then let them go."""
        revoked = {(p.topic, p.partition) for p in partitions}
        self._commit(asynchronous=False, only=revoked, force=True)
        self._forget(revoked)
        logger.info("partitions revoked: %s", sorted(revoked), extra={"group": self.group})

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        """Another member may own them already: commit nothing, forget everything."""
        lost = {(p.topic, p.partition) for p in partitions}
        self._forget(lost)
        logger.warning("partitions lost: %s", sorted(lost), extra={"group": self.group})

    def _forget(self, partitions: set[TopicPartitionKey]) -> None:
        """Drop what we hold of partitions we no longer own (their new owner re-reads it)."""
        self._owned.difference_update(partitions)
        for key, held in list(self._held.items()):
            if held.events and (held.head.topic, held.head.partition) in partitions:
                del self._held[key]
        for tp in partitions:
            self._progress.pop(tp, None)
        kept = [m for m in self._pending if (m.topic(), m.partition()) not in partitions]
        self._pending.clear()
        self._pending.extend(kept)

    @property
    def held_count(self) -> int:
        return sum(len(h.events) for h in self._held.values())

    def _apply_backpressure(self) -> None:
        held = self.held_count
        if self._repause:
            self._repause = False
            if self._paused:
                self.consumer.pause(self.consumer.assignment())
        if not self._paused and held > self.config.max_pending:
            self.consumer.pause(self.consumer.assignment())
            self._paused = True
            logger.warning("paused: %d events held for retry", held, extra={"group": self.group})
        elif self._paused and held <= self.config.max_pending // 2:
            self.consumer.resume(self.consumer.assignment())
            self._paused = False
            logger.info("resumed", extra={"group": self.group})

    def _poll_timeout(self) -> float:
        timeout = self.config.poll_timeout
        if self._held:
            due = min(h.due_at for h in self._held.values()) - self._clock()
            timeout = max(0.0, min(timeout, due))
        return timeout

    def _wait_for_infrastructure(self, exc: BaseException) -> None:
        """Back off (bounded) without losing the batch in hand; keep the group membership."""
        self._infra_failures += 1
        delay = self.config.backoff.delay(self._infra_failures)
        logger.warning(
            "infrastructure unavailable (%s: %s); retrying in %.1fs",
            type(exc).__name__,
            exc,
            delay,
            extra={"group": self.group},
        )
        self._wait(delay)

    # -- status -----------------------------------------------------------------------------

    def _report(self, force: bool = False) -> None:
        now = self._clock()
        due = force or now >= self._next_status
        if due:
            self._next_status = now + self.config.status_interval
        if self._status_reporter is not None and due:
            try:
                self._status_reporter(self)
            except Exception as exc:
                logger.warning("status report failed: %s", exc, extra={"group": self.group})
        if due:
            self.middleware.call("on_report", self)
        if self.config.inbox_purge_interval > 0 and now >= self._next_purge:
            self._next_purge = now + self.config.inbox_purge_interval
            from eventing.inbox.purge import purge_inbox

            try:
                purge_inbox(group=self.group, older_than=self.config.inbox_retention)
            except Exception as exc:
                logger.warning("inbox purge failed: %s", exc, extra={"group": self.group})

    def close(self) -> None:
        """Commit what is finished and leave the group (held events will be redelivered)."""
        try:
            self._commit(asynchronous=False)
        finally:
            self.closed = True
            self.consumer.close()
            logger.info(
                "consumer stopped",
                extra={"group": self.group, **self.counters.__dict__, "held": self.held_count},
            )


class _EventMessage:
    """A decoded event seen as a message again, for the dead-letter publisher."""

    def __init__(self, event: Event) -> None:
        self._event = event

    def topic(self) -> str:
        return self._event.topic

    def partition(self) -> int:
        return self._event.partition

    def offset(self) -> int:
        return self._event.offset

    def key(self) -> bytes | None:
        return self._event.key.encode() if self._event.key is not None else None

    def value(self) -> bytes | None:
        return self._event.raw_value

    def headers(self) -> list[tuple[str, bytes | None]]:
        return [(k, v.encode() if v is not None else None) for k, v in self._event.headers.items()]

    def error(self) -> None:
        return None
