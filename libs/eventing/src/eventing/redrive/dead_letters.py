"""Reading a group's dead-letter topics, and sending chosen dead letters back to their source.

At-least-once, applied once: a redrive row is committed *before* its copy is produced (so the
consumer can never see a copy without its row), then the copy goes to the partition the
event was read from. A crash between the two leaves a ``pending`` row with no copy, which
the listing shows; redriving again is safe, because only one copy can claim the inbox.

The loop guard counts redrives in the copy's ``eventing.redrive.count`` header: it survives
a second dead-lettering (the dead-letter publisher keeps the message's headers), so a dead
letter whose event was redriven ``max_redrives`` times is refused unless forced.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from eventing.consumer.decoding import Message, headers_of
from eventing.consumer.runner import ProducerPort
from eventing.exceptions import EventingError
from eventing.redrive import (
    REDRIVE_COUNT_HEADER,
    REDRIVE_FROM_HEADER,
    REDRIVE_GROUP_HEADER,
    REDRIVE_HEADERS,
    REDRIVE_ID_HEADER,
)
from eventing.redrive.models import DeadLetterRedrive
from eventing.serialization.avro import AvroCodec

#: Redrives of one event after which a dead letter is refused unless forced.
DEFAULT_MAX_REDRIVES = 3


class RedriveError(EventingError):
    """A redrive could not be done (bad selection, source topic unknown, Kafka refused)."""


class TopicSource(Protocol):
    """Where dead letters are read from: real Kafka or the in-memory bus."""

    def list_topics(self) -> list[str]: ...
    def read(self, topic: str) -> list[Message]: ...


@dataclass
class DeadLetter:
    """One message of a dead-letter topic, with its ``dlt.*`` headers parsed."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    raw_headers: list[tuple[str, bytes | None]]
    headers: dict[str, str | None] = field(default_factory=dict)
    data: Any = None
    """The value decoded through the registry (writer schema), or None."""
    decode_error: str | None = None
    status: str = "pending"
    """``pending``, ``loop-guard`` (redriven too often), ``redriven: <outcome>`` or ``superseded``."""
    latest: bool = True
    """The newest dead letter of its event (an event redriven and failed again has several)."""

    @property
    def position(self) -> str:
        """``partition:offset`` in the dead-letter topic (an id for envelope-less messages)."""
        return f"{self.partition}:{self.offset}"

    @property
    def ids(self) -> tuple[str, str, str]:
        """What ``--id`` matches: the event id, ``PARTITION:OFFSET``, ``DLT_TOPIC:PARTITION:OFFSET``."""
        return (self.event_id, self.position, f"{self.topic}:{self.position}")

    @property
    def event_id(self) -> str:
        return (
            self.headers.get("ce_id")
            or f"poison:{self.original_topic}/{self.original_partition}/{self.original_offset}"
        )

    @property
    def event_type(self) -> str:
        return self.headers.get("ce_type") or ""

    @property
    def reason(self) -> str:
        return self.headers.get("dlt.reason") or ""

    @property
    def exception(self) -> str:
        kind = self.headers.get("dlt.exception.type") or ""
        return f"{kind}: {self.headers.get('dlt.exception.message') or ''}"

    @property
    def original_topic(self) -> str:
        return self.headers.get("dlt.original.topic") or ""

    @property
    def original_partition(self) -> int:
        return _int(self.headers.get("dlt.original.partition"), -1)

    @property
    def original_offset(self) -> int:
        return _int(self.headers.get("dlt.original.offset"), -1)

    @property
    def redrive_count(self) -> int:
        """How many times this event had been redriven when it was dead-lettered (this time)."""
        return _int(self.headers.get(REDRIVE_COUNT_HEADER), 0)

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly view (for ``--json`` and the admin)."""
        return {
            "dead_letter_topic": self.topic,
            "position": self.position,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "key": self.key.decode("utf-8", "replace") if self.key is not None else None,
            "reason": self.reason,
            "exception": self.exception,
            "original": f"{self.original_topic}/{self.original_partition}/{self.original_offset}",
            "attempts": self.headers.get("dlt.attempts"),
            "failed_at": self.headers.get("dlt.failed_at"),
            "redrive_count": self.redrive_count,
            "status": self.status,
            "data": self.data,
            "decode_error": self.decode_error,
        }


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def dead_letter_topics(group: str, topics: Iterable[str], template: str) -> list[str]:
    """The topics among ``topics`` that are dead-letter topics of ``group`` under ``template``."""
    before, sep, after = template.partition("{topic}")
    if not sep:
        raise RedriveError(f"DEAD_LETTER_TOPIC {template!r} has no {{topic}} placeholder")
    pattern = re.compile(
        re.escape(before.format(group=group)) + r"(.+)" + re.escape(after.format(group=group)) + r"\Z"
    )
    return sorted(t for t in topics if pattern.match(t))


def list_dead_letters(
    group: str,
    source: TopicSource,
    codec: AvroCodec,
    *,
    template: str,
    max_redrives: int = DEFAULT_MAX_REDRIVES,
) -> list[DeadLetter]:
    """Every dead letter of ``group``, decoded, with its status against the redrive record."""
    letters: list[DeadLetter] = []
    for topic in dead_letter_topics(group, source.list_topics(), template):
        for message in source.read(topic):
            letter = DeadLetter(
                topic=topic,
                partition=message.partition() or 0,
                offset=message.offset() or 0,
                key=message.key(),
                value=message.value(),
                raw_headers=list(message.headers() or ()),
                headers=headers_of(message),
            )
            _decode(letter, codec)
            letters.append(letter)
    _mark_status(group, letters, max_redrives)
    return letters


def _decode(letter: DeadLetter, codec: AvroCodec) -> None:
    if letter.value is None:
        return
    try:
        letter.data = codec.decode(letter.value)
    except Exception as exc:  # the reason it is a dead letter, often
        letter.decode_error = f"{type(exc).__name__}: {exc}"


def _failed_at(letter: DeadLetter) -> tuple[str, int]:
    return (letter.headers.get("dlt.failed_at") or "", letter.offset)


def _mark_status(group: str, letters: list[DeadLetter], max_redrives: int) -> None:
    redriven = {
        (r.dead_letter_topic, r.dead_letter_partition, r.dead_letter_offset): r.outcome
        for r in DeadLetterRedrive.objects.filter(consumer_group=group).order_by("redriven_at")
    }
    latest: dict[str, DeadLetter] = {}
    for letter in letters:
        current = latest.get(letter.event_id)
        if current is None or _failed_at(letter) >= _failed_at(current):
            latest[letter.event_id] = letter
    for letter in letters:
        letter.latest = latest[letter.event_id] is letter
        outcome = redriven.get((letter.topic, letter.partition, letter.offset))
        if outcome is not None:
            letter.status = f"redriven: {outcome}"
        elif latest[letter.event_id] is not letter:
            letter.status = "superseded"  # a later dead letter of the same event is the one to redrive
        elif letter.redrive_count >= max_redrives:
            letter.status = "loop-guard"
        else:
            letter.status = "pending"


@dataclass
class Selection:
    """Which dead letters to redrive: by event id or ``partition:offset``, by reason, or all."""

    ids: Sequence[str] = ()
    reason: str | None = None
    all: bool = False

    def __post_init__(self) -> None:
        if not (self.ids or self.reason or self.all):
            raise RedriveError("Select dead letters to redrive: --id, --reason or --all")

    def matches(self, letter: DeadLetter) -> bool:
        if self.ids and not set(letter.ids) & set(self.ids):
            return False
        return not (self.reason and letter.reason != self.reason)


@dataclass
class PlannedRedrive:
    """A selected dead letter and what a redrive does with it (``redrive`` or why not)."""

    letter: DeadLetter
    action: str

    @property
    def redrives(self) -> bool:
        return self.action == "redrive"


def plan_redrive(
    letters: Sequence[DeadLetter], selection: Selection, *, force: bool = False
) -> list[PlannedRedrive]:
    """What redriving ``selection`` would do; an unknown ``--id`` is an error."""
    chosen = [letter for letter in letters if selection.matches(letter)]
    missing = [i for i in selection.ids if not any(i in x.ids for x in chosen)]
    if missing:
        raise RedriveError(f"No dead letter with id or position {', '.join(missing)}")
    plan = []
    for letter in chosen:
        if letter.status == "pending" or (force and letter.status == "loop-guard"):
            action = "redrive"
        elif letter.status == "loop-guard":
            action = (
                f"refused: redriven {letter.redrive_count} times already (loop guard; --force to override)"
            )
        elif letter.status == "superseded":
            action = "skipped: a later dead letter of this event exists"
        elif force and letter.latest:
            action = "redrive"
        elif not letter.latest:
            action = "skipped: a later dead letter of this event exists"
        else:
            action = f"skipped: already {letter.status} (--force to send it again)"
        if action == "redrive" and not letter.original_topic:
            action = "refused: no dlt.original.topic header"
        plan.append(PlannedRedrive(letter, action))
    return plan


def redrive(
    group: str,
    plan: Sequence[PlannedRedrive],
    producer: ProducerPort,
    *,
    force: bool = False,
    redriven_by: str = "",
    timeout: float = 10.0,
) -> list[DeadLetterRedrive]:
    """Send the planned dead letters back to their source partitions; return the records."""
    records = []
    for item in plan:
        if not item.redrives:
            continue
        letter = item.letter
        record = DeadLetterRedrive.objects.create(
            consumer_group=group,
            event_id=letter.event_id,
            event_type=letter.event_type,
            dead_letter_topic=letter.topic,
            dead_letter_partition=letter.partition,
            dead_letter_offset=letter.offset,
            source_topic=letter.original_topic,
            reason=letter.reason,
            exception=letter.exception[:2000],
            redrive_count=letter.redrive_count + 1,
            forced=force and letter.status != "pending",
            redriven_by=redriven_by,
        )
        try:
            _produce(group, letter, record, producer, timeout)
        except Exception:
            record.delete()  # nothing was sent: the dead letter stays pending
            raise
        records.append(record)
    return records


def _produce(
    group: str, letter: DeadLetter, record: DeadLetterRedrive, producer: ProducerPort, timeout: float
) -> None:
    headers: list[tuple[str, bytes | None]] = [
        (k, v) for k, v in letter.raw_headers if not k.startswith("dlt.") and k not in REDRIVE_HEADERS
    ]
    headers += [
        (REDRIVE_ID_HEADER, str(record.id).encode()),
        (REDRIVE_GROUP_HEADER, group.encode()),
        (REDRIVE_COUNT_HEADER, str(record.redrive_count).encode()),
        (REDRIVE_FROM_HEADER, f"{letter.topic}/{letter.position}".encode()),
    ]
    errors: list[Any] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    kwargs: dict[str, Any] = {"headers": headers, "on_delivery": on_delivery}
    if letter.original_partition >= 0:
        kwargs["partition"] = letter.original_partition  # the key's partition: same member, same order
    producer.produce(letter.original_topic, value=letter.value, key=letter.key, **kwargs)
    if producer.flush(timeout) or errors:
        raise RedriveError(
            f"Could not write to {letter.original_topic}: {errors or 'flush timed out'}",
            context={"event_id": letter.event_id},
        )


class KafkaTopicSource:
    """Reads whole topics from Kafka by assignment (no group membership, nothing committed)."""

    def __init__(self, config: dict[str, Any], *, timeout: float = 10.0) -> None:
        self.config = config
        self.timeout = timeout

    def list_topics(self) -> list[str]:
        from confluent_kafka.admin import AdminClient

        return list(AdminClient(self.config).list_topics(timeout=self.timeout).topics)

    def read(self, topic: str) -> list[Message]:
        from confluent_kafka import Consumer, KafkaError, TopicPartition

        consumer = Consumer(
            {
                **self.config,
                "group.id": f"eventing-dlt-reader-{datetime.now(UTC).timestamp()}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        try:
            metadata = consumer.list_topics(topic, timeout=self.timeout).topics[topic]
            ends: dict[int, int] = {}
            assignment = []
            for partition in metadata.partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=self.timeout
                )
                if high > low:
                    ends[partition] = high
                    assignment.append(TopicPartition(topic, partition, low))
            if not assignment:
                return []
            consumer.assign(assignment)
            messages: list[Message] = []
            deadline = datetime.now(UTC).timestamp() + self.timeout * 3
            while ends and datetime.now(UTC).timestamp() < deadline:
                for message in cast(list[Any], consumer.consume(500, 0.5)):
                    if message.error() is not None:
                        if message.error().code() == KafkaError._PARTITION_EOF:
                            ends.pop(message.partition(), None)  # the end, even past a gap
                        continue
                    messages.append(message)
                    if message.offset() + 1 >= ends.get(message.partition(), 0):
                        ends.pop(message.partition(), None)
            if ends:
                raise RedriveError(f"Timed out reading {topic} (partitions {sorted(ends)} unfinished)")
            return messages
        finally:
            consumer.close()


def kafka_source() -> TopicSource:
    """The dead-letter topics of the configured Kafka (the command's and the admin's source)."""
    from eventing.conf import eventing_settings

    return KafkaTopicSource(eventing_settings.kafka_config())


def kafka_producer() -> ProducerPort:
    """An idempotent producer for redriven copies."""
    from confluent_kafka import Producer

    from eventing.consumer.kafka import producer_config

    return cast(ProducerPort, Producer(producer_config()))


def group_dead_letters(group: str, source: TopicSource | None = None) -> list[DeadLetter]:
    """:func:`list_dead_letters` with the settings' template, the process codec and Kafka."""
    from eventing.conf import eventing_settings
    from eventing.runtime import get_codec

    return list_dead_letters(
        group, source or kafka_source(), get_codec(), template=str(eventing_settings.DEAD_LETTER_TOPIC)
    )
