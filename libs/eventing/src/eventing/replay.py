"""Reading topics from their beginning, without a consumer group: rebuilding a read model.

:class:`TopicReplay` assigns every partition of the handlers' topics at its earliest offset
(``assign``, never ``subscribe`` nor ``commit``: no consumer group is created on the broker,
so there is nothing to clean up and the live group is never touched), decodes each message as
the consumer does, and calls the handlers on consecutive runs of events in a database
transaction, **without the inbox**. That is right only for handlers whose effect is
idempotent and independent of order per key, such as version-guarded upserts and tombstone
rows: a replay applies every event of the topics once more, in partition order, into
whatever the handlers write to (typically shadow tables, see the points service's
``points_rebuild``).

:meth:`TopicReplay.replay_to` reads until every partition's position reaches the offsets it
is given (e.g. :meth:`TopicReplay.end_offsets` read a moment ago) and stops there: a message
at or past its partition's target is kept in memory, not applied (its partition is paused
once ``max_ahead`` are kept), so the next call, with later targets, goes on exactly where the
previous one stopped, mostly from memory: a short replay under a table lock waits for no
fetch. Undecodable
messages are counted and skipped (the live consumer dead-letters them); a handler that
raises, or a registry that cannot be reached, aborts the replay (a rebuild that skipped an
event would not be exact).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import DEFAULT_DB_ALIAS, transaction

from eventing.consumer.decoding import MessageDecoder, Poison
from eventing.consumer.registry import Handler, HandlerRegistry
from eventing.events import Event
from eventing.exceptions import EventingError
from eventing.serialization.avro import AvroCodec

logger = logging.getLogger(__name__)

TopicPartitionKey = tuple[str, int]
Offsets = dict[TopicPartitionKey, int]


class ReplayError(EventingError):
    """The replay cannot go on (partitions changed, no progress before the deadline)."""


class ReplayConsumerPort(Protocol):
    """The subset of ``confluent_kafka.Consumer`` a replay uses (no group membership)."""

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...
    def get_watermark_offsets(
        self, partition: Any, timeout: float | None = None, cached: bool = False
    ) -> tuple[int, int]: ...
    def assign(self, partitions: list[Any]) -> None: ...
    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Any]: ...
    def pause(self, partitions: list[Any]) -> None: ...
    def resume(self, partitions: list[Any]) -> None: ...
    def close(self) -> None: ...


@dataclass
class ReplayStats:
    """Running totals of one replay."""

    read: int = 0
    applied: int = 0
    skipped: int = 0  # no handler for the event's type
    poison: int = 0  # undecodable or without a CloudEvents envelope
    batches: int = 0


def _topic_partition(topic: str, partition: int, offset: int = -1001) -> Any:
    from confluent_kafka import TopicPartition

    return TopicPartition(topic, partition, offset)


def replay_consumer_config(prefix: str) -> dict[str, Any]:
    """librdkafka settings of a replay consumer: a throwaway group id it never joins nor commits.

    librdkafka wants a ``group.id``; since the consumer only ``assign()``\\ s and never commits,
    the broker never learns of it (no group to delete afterwards).
    """
    from eventing.conf import eventing_settings

    unique = uuid.uuid4().hex[:12]
    return eventing_settings.kafka_config(
        **{
            "group.id": f"{prefix}.replay-{unique}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            # Keep up with the end closely: do not hold a fetch open long for an idle partition.
            "fetch.wait.max.ms": 50,
            "client.id": f"{prefix}.replay-{socket.gethostname()}-{os.getpid()}",
        }
    )


class TopicReplay:
    """Applies the events of ``handlers``' topics, from their beginning, without an inbox."""

    def __init__(
        self,
        handlers: HandlerRegistry,
        *,
        consumer: ReplayConsumerPort,
        codec: AvroCodec,
        metadata: ReplayConsumerPort | None = None,
        batch_size: int = 500,
        poll_timeout: float = 0.5,
        idle_timeout: float = 60.0,
        max_ahead: int = 10_000,
        metadata_timeout: float = 10.0,
        using: str = DEFAULT_DB_ALIAS,
        atomic: Callable[[], AbstractContextManager[Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.handlers = handlers
        self.consumer = consumer
        # Watermark queries on the fetching consumer wait behind its in-flight fetch (up to
        # fetch.wait.max.ms per partition): a second, idle client answers at once.
        self.metadata = metadata or consumer
        self.decoder = MessageDecoder(handlers, codec)
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        self.idle_timeout = idle_timeout
        self.max_ahead = max_ahead
        self.metadata_timeout = metadata_timeout
        self.atomic = atomic or (lambda: transaction.atomic(using=using, savepoint=False))
        self.stats = ReplayStats()
        self._partition = _topic_partition
        self._clock = clock
        self._positions: Offsets = {}
        self._paused: set[TopicPartitionKey] = set()
        self._ahead: dict[TopicPartitionKey, list[Any]] = {}
        self._started = False
        #: Why applying a batch failed: its messages are past the positions, so going on would skip them.
        self._failed: str | None = None

    # -- offsets ----------------------------------------------------------------------------

    def partitions(self) -> list[TopicPartitionKey]:
        """Every partition of the handlers' topics, from the broker's metadata now."""
        found: list[TopicPartitionKey] = []
        for topic in self.handlers.topics():
            metadata = self.metadata.list_topics(topic, timeout=self.metadata_timeout).topics.get(topic)
            if metadata is None or getattr(metadata, "error", None) is not None:
                raise ReplayError(f"Topic {topic} not found", context={"topic": topic})
            found.extend((topic, p) for p in sorted(metadata.partitions))
        return found

    def watermarks(self) -> dict[TopicPartitionKey, tuple[int, int]]:
        """(earliest, end) offset of every partition, asked of the broker now (not cached)."""
        return {
            (t, p): self.metadata.get_watermark_offsets(
                self._partition(t, p), timeout=self.metadata_timeout, cached=False
            )
            for t, p in self.partitions()
        }

    def end_offsets(self) -> Offsets:
        """The offset the next message of each partition will get, now."""
        return {tp: high for tp, (_low, high) in self.watermarks().items()}

    def positions(self) -> Offsets:
        """Per partition, the offset of the next message this replay will apply."""
        return dict(self._positions)

    def remaining(self, targets: Offsets) -> int:
        """Messages between the replay's positions and ``targets``."""
        return sum(max(0, target - self._positions.get(tp, 0)) for tp, target in targets.items())

    # -- the work ---------------------------------------------------------------------------

    def start(self) -> None:
        """Assign every partition at its earliest offset (once; replay_to calls it)."""
        if self._started:
            return
        marks = self.watermarks()
        self._positions = {tp: low for tp, (low, _high) in marks.items()}
        self.consumer.assign([self._partition(t, p, low) for (t, p), low in self._positions.items()])
        self._started = True
        logger.info(
            "replay started",
            extra={"topics": self.handlers.topics(), "partitions": len(self._positions)},
        )

    def replay_to(self, targets: Offsets) -> ReplayStats:
        """Apply every message before ``targets`` (per partition); return the running totals.

        Raises :class:`ReplayError` if a target names a partition that did not exist when the
        replay started, if no message arrives for ``idle_timeout`` seconds while some
        partition is still short of its target, or if an earlier call failed applying a batch
        (its events would be skipped: start a new replay).
        """
        if self._failed is not None:
            raise ReplayError(
                f"An earlier replay_to failed applying a batch ({self._failed}); "
                "its events were not applied: start a new replay"
            )
        self.start()
        unknown = sorted(set(targets) - set(self._positions))
        if unknown:
            raise ReplayError(
                f"Partitions appeared during the replay: {unknown}; start it again",
                context={"partitions": unknown},
            )
        self._apply_ahead(targets)
        self._set_paused()
        idle_since = self._clock()
        while self.remaining(targets) > 0:
            messages = self._poll()
            wanted = self._take(messages, targets)
            if wanted:
                self._apply(wanted)
                idle_since = self._clock()
            elif not messages:
                self._skip_to_consumer_positions(targets)
                if self.remaining(targets) > 0 and self._clock() - idle_since > self.idle_timeout:
                    short = {
                        tp: (self._positions[tp], t) for tp, t in targets.items() if self._positions[tp] < t
                    }
                    raise ReplayError(
                        f"No message for {self.idle_timeout:.0f}s while partitions are short of "
                        f"their target (position, target): {short}",
                        context={"short": str(short)},
                    )
            self._set_paused()
        return self.stats

    def close(self) -> None:
        self.consumer.close()
        if self.metadata is not self.consumer:
            self.metadata.close()

    # -- internals --------------------------------------------------------------------------

    def _poll(self) -> list[Any]:
        """What is fetched already, else wait for one message (``consume(n, t)`` waits for n)."""
        messages = self.consumer.consume(self.batch_size, 0)
        if not messages:
            messages = self.consumer.consume(1, self.poll_timeout)
            if messages and self.batch_size > 1:
                messages.extend(self.consumer.consume(self.batch_size - 1, 0))
        return messages

    def _take(self, messages: Iterable[Any], targets: Offsets) -> list[Any]:
        """The messages below their partition's target, in order; keep the others for later."""
        wanted: list[Any] = []
        for message in messages:
            if message.error() is not None:
                logger.warning("kafka error during replay: %s", message.error())
                continue
            tp = (message.topic(), message.partition())
            offset = message.offset()
            if tp not in self._positions or offset < self._positions[tp]:
                continue  # already applied (a fetch from before a pause) or not ours
            kept = self._ahead.get(tp)
            if kept and offset <= kept[-1].offset():
                continue  # fetched again after a pause
            if kept or offset >= targets.get(tp, 0):
                self._ahead.setdefault(tp, []).append(message)
                # Everything before it was read: a gap (compaction) must not stall the replay.
                self._positions[tp] = max(self._positions[tp], targets.get(tp, 0))
                continue
            wanted.append(message)
            self._positions[tp] = offset + 1
        return wanted

    def _skip_to_consumer_positions(self, targets: Offsets) -> None:
        """Move past offsets with no message (transaction markers) that the consumer skipped."""
        position = getattr(self.consumer, "position", None)
        if position is None:
            return
        short = [
            tp for tp, target in targets.items() if self._positions[tp] < target and not self._ahead.get(tp)
        ]
        if not short:
            return
        for tp in position([self._partition(*tp) for tp in short]):
            key = (tp.topic, tp.partition)
            if tp.offset >= 0 and key in self._positions:
                self._positions[key] = max(self._positions[key], min(tp.offset, targets[key]))

    def _apply_ahead(self, targets: Offsets) -> None:
        for tp, kept in list(self._ahead.items()):
            target = targets.get(tp, 0)
            due = [m for m in kept if m.offset() < target]
            rest = [m for m in kept if m.offset() >= target]
            if rest:
                self._ahead[tp] = rest
            else:
                del self._ahead[tp]
            if due:
                self._positions[tp] = due[-1].offset() + 1
                self._apply(due)
            if rest:
                self._positions[tp] = max(self._positions[tp], target)

    def _set_paused(self) -> None:
        """Pause the partitions whose kept messages reached ``max_ahead``; resume the others."""
        full = {tp for tp, kept in self._ahead.items() if len(kept) >= self.max_ahead}
        pause, resume = full - self._paused, self._paused - full
        if pause:
            self.consumer.pause([self._partition(*tp) for tp in sorted(pause)])
        if resume:
            self.consumer.resume([self._partition(*tp) for tp in sorted(resume)])
        self._paused = full

    def _apply(self, messages: list[Any]) -> None:
        """Apply ``messages`` (their positions are already past them); a failure is remembered."""
        try:
            self._apply_batch(messages)
        except BaseException as exc:  # a handler, the database, the registry while decoding
            self._failed = f"{type(exc).__name__}: {exc}"
            raise

    def _apply_batch(self, messages: list[Any]) -> None:
        events: list[Event] = []
        for message in messages:
            self.stats.read += 1
            decoded = self.decoder.decode(message)
            if isinstance(decoded, Poison):
                self.stats.poison += 1
                logger.warning(
                    "replay skipped an undecodable message (%s): %s",
                    decoded.reason,
                    decoded.error,
                    extra={
                        "topic": message.topic(),
                        "partition": message.partition(),
                        "offset": message.offset(),
                    },
                )
                continue
            events.append(decoded)
        runs: list[tuple[Handler, list[Event]]] = []
        for event in events:
            handler = self.handlers.for_raw_topic(event.topic) or self.handlers.for_type(event.type)
            if handler is None:
                self.stats.skipped += 1
                continue
            if runs and runs[-1][0] is handler and handler.batch:
                runs[-1][1].append(event)
            else:
                runs.append((handler, [event]))
        with self.atomic():
            for handler, run in runs:
                handler(run)
        self.stats.applied += sum(len(run) for _, run in runs)
        self.stats.batches += 1


def build_replay(handlers: HandlerRegistry, *, prefix: str, **options: Any) -> TopicReplay:
    """A replay reading real Kafka (a consumer it never lets join a group) with the process codec."""
    from confluent_kafka import Consumer

    from eventing.runtime import get_codec

    consumer = Consumer(replay_consumer_config(prefix))
    metadata = Consumer(replay_consumer_config(prefix))
    return TopicReplay(
        handlers,
        consumer=consumer,  # type: ignore[arg-type]
        metadata=metadata,  # type: ignore[arg-type]
        codec=get_codec(),
        **options,
    )
