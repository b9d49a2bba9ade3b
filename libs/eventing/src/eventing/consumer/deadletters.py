"""Dead letters: the ``<group>.<topic>.dlt`` topic, for poison and for exhausted retries.

Two paths lead there:

* **poison** (:meth:`DeadLetters.poison`): a message that cannot be decoded or has no
  CloudEvents envelope goes at once (``attempts=0``), and is recorded in the inbox so that a
  replay does not dead-letter it twice;
* **exhausted** (:meth:`DeadLetters.exhausted`): an event whose handler failed every
  attempt of its retry policy, recorded ``dead_lettered`` in the inbox.

Both write synchronously (:class:`DeadLetterPublisher` flushes per call) before anything is
recorded, so the source offset is committed only once the dead letter is durably in Kafka;
Kafka down raises :class:`DeadLetterError` and nothing changes (the runner retries later).
At-least-once: a crash between the write and the commit can write a dead letter twice.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from eventing.consumer.decoding import Message, Poison, headers_of
from eventing.consumer.processing import BatchProcessor, log_fields
from eventing.consumer.status import Counters
from eventing.events import Event

logger = logging.getLogger(__name__)


class ProducerPort(Protocol):
    """The subset of ``confluent_kafka.Producer`` the dead-letter publisher uses."""

    def produce(self, topic: str, value: Any = None, key: Any = None, **kwargs: Any) -> None: ...
    def flush(self, timeout: float = -1) -> int: ...
    def poll(self, timeout: float = 0) -> int: ...


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


#: Called after a message is durably dead-lettered: (source topic, event type or None, reason).
DeadLetterNotice = Callable[[str, str | None, str], None]


class DeadLetters:
    """The poison and exhausted-retry paths: write, record in the inbox, count, notify."""

    def __init__(
        self,
        publisher: DeadLetterPublisher,
        processor: BatchProcessor,
        counters: Counters,
        notify: DeadLetterNotice,
    ) -> None:
        self.publisher = publisher
        self.processor = processor
        self.counters = counters
        self.notify = notify

    @property
    def group(self) -> str:
        return self.publisher.group

    def exhausted(self, event: Event, error: BaseException | None, attempts: int) -> None:
        """``event``'s handler failed ``attempts`` times: dead-letter it (raises if Kafka is down)."""
        error = error or RuntimeError("handler failed")
        topic = self.publisher.publish(
            EventMessage(event), reason="handler_failed", error=error, attempts=attempts
        )
        self.processor.record_dead_letter(event)
        self.counters.dead_lettered += 1
        self.notify(event.topic, event.type, "handler_failed")
        logger.error(
            "event dead-lettered after %d attempts: %s",
            attempts,
            error,
            extra={**log_fields(event, self.group), "dead_letter_topic": topic},
        )

    def poison(self, poison: Poison) -> None:
        """An undecodable message: dead-letter it at once, unless it already was (a replay)."""
        message = poison.message
        headers = headers_of(message)
        # Recorded in the inbox like a failed event, so a replay does not dead-letter it twice.
        event_id = headers.get("ce_id") or (
            f"poison:{message.topic()}/{message.partition()}/{message.offset()}"
        )
        where = {"topic": message.topic(), "partition": message.partition(), "offset": message.offset()}
        if not self.processor.poison_wanted(event_id, headers):
            self.counters.duplicates += 1
            logger.info(
                "undecodable message already dead-lettered; skipped",
                extra={"group": self.group, "event_id": event_id, **where},
            )
            return
        topic = self.publisher.publish(message, reason=poison.reason, error=poison.error, attempts=0)
        self.processor.record_poison(
            event_id,
            topic=message.topic() or "",
            partition=message.partition() or 0,
            offset=message.offset() or 0,
            headers=headers,
        )
        self.counters.dead_lettered += 1
        self.notify(message.topic() or "", None, poison.reason)
        logger.error(
            "message dead-lettered (%s): %s",
            poison.reason,
            poison.error,
            extra={"group": self.group, **where, "dead_letter_topic": topic},
        )


class EventMessage:
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
