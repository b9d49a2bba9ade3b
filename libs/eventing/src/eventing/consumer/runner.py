"""The consumer loop: Kafka in, database effects out, at-least-once in, exactly-once effect.

Per poll: decode the batch (poison goes to the dead-letter topic at once), apply it in one
transaction (:class:`~eventing.consumer.processing.BatchProcessor`), hold back the keys
whose handler failed (their later events wait behind them, other keys go on), retry held
keys with bounded backoff under the retry policy of the head's handler, dead-letter an event
whose attempts are exhausted, and commit, per partition, the lowest offset not yet finished
(only after the database commit).

This module is the loop and its composition. The seams: ``offsets`` (ownership, progress,
commits, the rebalance callbacks), ``retry`` (policies, held keys), ``deadletters``,
``backpressure`` (pause, infrastructure backoff), ``status`` (counters, report and purge
cadence) and ``middleware`` (plug-ins' hooks), all in ``eventing.consumer``.

**The offset invariant.** An offset is committed only after the event at it, and every
earlier one of its partition, was applied (or dead-lettered) in a committed transaction, and
only by the member that owns the partition at that moment. Rebalance callbacks
(``on_assign`` / ``on_revoke`` / ``on_lost``) run *inside* ``consumer.consume()``, so any
state they change may change in the middle of :meth:`ConsumerRunner._poll`. Hence:

* the runner's containers (its pending deque, the tracker's owned set and progress, the
  scheduler's held keys) are edited in place, never rebound, by the callbacks (a rebinding
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
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import close_old_connections

from eventing.consumer.backpressure import BackPressure
from eventing.consumer.deadletters import DeadLetterError, DeadLetterPublisher, DeadLetters, ProducerPort
from eventing.consumer.decoding import MessageDecoder, Poison
from eventing.consumer.middleware import ConsumerMiddlewareProtocol, MiddlewareChain, load_middleware
from eventing.consumer.offsets import ConsumerPort, OffsetTracker, TopicPartitionKey
from eventing.consumer.processing import BatchProcessor, BatchResult, DatabaseUnavailable, Outcome, log_fields
from eventing.consumer.registry import HandlerRegistry
from eventing.consumer.retry import Backoff, HeldKey, RetryPolicy, RetryScheduler
from eventing.consumer.status import Counters, StatusCadence
from eventing.events import Event
from eventing.exceptions import SchemaRegistryUnavailable
from eventing.serialization.avro import AvroCodec

__all__ = [
    "ConsumerPort",
    "ConsumerRunner",
    "Counters",
    "DeadLetterError",
    "DeadLetterPublisher",
    "ProducerPort",
    "RunnerConfig",
    "TopicPartitionKey",
]

logger = logging.getLogger(__name__)


@dataclass
class RunnerConfig:
    """Tuning of one consumer (defaults from ``settings.EVENTING``).

    ``max_attempts`` and ``backoff`` are the default retry policy, for handlers without one.
    """

    batch_size: int = 500
    poll_timeout: float = 0.5
    max_attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    max_pending: int = 10_000
    dead_letter_topic: str = "{group}.{topic}.dlt"
    status_interval: float = 5.0
    inbox_retention: float = 7 * 24 * 3600
    inbox_purge_interval: float = 3600.0

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.max_attempts, backoff=self.backoff)


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
        middleware: Sequence[ConsumerMiddlewareProtocol] | None = None,
    ) -> None:
        self.group = group
        self.handlers = handlers
        self.consumer = consumer
        self.config = config = config or RunnerConfig()
        self.processor = BatchProcessor(group, handlers)
        self.decoder = MessageDecoder(handlers, codec)
        self.counters = Counters()
        self.member = f"{group}/{socket.gethostname()}/{os.getpid()}"
        self.dead_letters = DeadLetterPublisher(producer, group, config.dead_letter_topic)
        self.dead_lettering = DeadLetters(
            self.dead_letters, self.processor, self.counters, self._notify_dead_letter
        )
        self.retries = RetryScheduler(self.retry_policy, clock)
        # Polled messages not yet applied (kept while the database or the dead-letter topic is
        # unavailable). Rebalance callbacks edit it in place: never rebind it.
        self._pending: deque[Any] = deque()
        self._stop = threading.Event()
        self.backpressure = BackPressure(
            consumer, config.max_pending, config.backoff, wait or self._stop.wait, group
        )
        self.offsets = OffsetTracker(
            consumer, self._unfinished, group, self.backpressure.assigned, self._forget
        )
        c = config
        self.status = StatusCadence(
            group, clock, c.status_interval, c.inbox_retention, c.inbox_purge_interval
        )
        self._clock = clock
        self._status_reporter = status_reporter
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
        offsets = self.offsets
        self.consumer.subscribe(
            topics, on_assign=offsets.on_assign, on_revoke=offsets.on_revoke, on_lost=offsets.on_lost
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
            self.retries.retry_due(self._attempt, self._dead_letter, stopping=self._stop.is_set)
            self.backpressure.infrastructure_up()
        except (DatabaseUnavailable, SchemaRegistryUnavailable, DeadLetterError) as exc:
            self.backpressure.wait_for_infrastructure(exc)
        self.offsets.commit(asynchronous=True)
        self.backpressure.apply(self.held_count)
        self._report()

    def close(self) -> None:
        """Commit what is finished and leave the group (held events will be redelivered)."""
        try:
            self.offsets.commit(asynchronous=False)
        finally:
            self.closed = True
            self.consumer.close()
            logger.info(
                "consumer stopped",
                extra={"group": self.group, **self.counters.__dict__, "held": self.held_count},
            )

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
        return self.offsets.owned_only(batch)

    def _handle(self, messages: list[Any]) -> None:
        fresh: list[Event] = []
        for message in messages:
            if message.error() is not None:
                logger.warning("kafka error: %s", message.error(), extra={"group": self.group})
                continue
            self.offsets.seen(message.topic(), message.partition(), message.offset())
            decoded = self.decoder.decode(message)
            if isinstance(decoded, Poison):
                self.dead_lettering.poison(decoded)
            elif not self.retries.queue_if_held(decoded):
                fresh.append(decoded)
        if fresh:
            self._apply(fresh)

    def _apply(self, events: list[Event]) -> None:
        result = self._process(events, retry=False)
        self.counters.batches += 1
        for index, (event, outcome) in enumerate(zip(events, result.outcomes, strict=True)):
            self._count(outcome, event)
            if outcome is Outcome.FAILED:
                self.retries.hold(event, result.errors[index])
            elif outcome is Outcome.DEFERRED:
                self.retries.defer(event)
            elif outcome is Outcome.SKIPPED:
                logger.info("no handler for event type; skipped", extra=log_fields(event, self.group))

    def _attempt(self, events: list[Event]) -> tuple[int, BaseException | None]:
        """Retry a held key's events (the scheduler's ``attempt``): how many are finished."""
        self.counters.retried += 1
        self.middleware.call("on_retry", self, events[0])
        result = self._process(events, retry=True)
        finished = 0
        for event, outcome in zip(events, result.outcomes, strict=True):
            if outcome in (Outcome.FAILED, Outcome.DEFERRED):
                break
            self._count(outcome, event)
            finished += 1
        return finished, result.errors.get(finished)

    def _dead_letter(self, held: HeldKey) -> None:
        self.dead_lettering.exhausted(held.head, held.last_error, held.attempts)

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
        self.counters.count(outcome, event)

    def _notify_dead_letter(self, topic: str, event_type: str | None, reason: str) -> None:
        self.middleware.call("on_dead_letter", self, topic, event_type, reason)

    def retry_policy(self, event: Event) -> RetryPolicy:
        """The policy of ``event``'s handler, else the consumer's default (``RunnerConfig``)."""
        handler = self.processor.handler_for(event)
        if handler is not None and handler.retry is not None:
            return handler.retry
        return self.config.retry

    # -- offsets (the rebalance callbacks are the tracker's) -----------------------------------

    def _unfinished(self) -> Iterator[tuple[str | None, int | None, int | None]]:
        """Offsets never to commit past: held for retry, or polled and not applied yet."""
        yield from self.retries.unfinished()
        for m in self._pending:
            yield m.topic(), m.partition(), m.offset()

    def commit_positions(self) -> dict[TopicPartitionKey, int]:
        """Per partition, the offset to commit (see :meth:`OffsetTracker.positions`)."""
        return self.offsets.positions()

    def on_commit(self, error: Any, partitions: list[Any]) -> None:
        """librdkafka's ``on_commit``: a failed asynchronous commit is sent again."""
        self.offsets.on_commit(error, partitions)

    def _forget(self, partitions: set[TopicPartitionKey]) -> None:
        """Partitions revoked or lost (inside consume()): drop what we hold of them, in place."""
        self.retries.forget(partitions)
        kept = [m for m in self._pending if (m.topic(), m.partition()) not in partitions]
        self._pending.clear()
        self._pending.extend(kept)

    # -- waiting and status -----------------------------------------------------------------

    @property
    def held_count(self) -> int:
        return self.retries.held_count

    def _poll_timeout(self) -> float:
        timeout = self.config.poll_timeout
        due = self.retries.next_due()
        if due is not None:
            timeout = max(0.0, min(timeout, due - self._clock()))
        return timeout

    def _report(self, force: bool = False) -> None:
        reporter = self._status_reporter
        self.status.tick(
            None if reporter is None else (lambda: reporter(self)),
            lambda: self.middleware.call("on_report", self),
            force=force,
        )
