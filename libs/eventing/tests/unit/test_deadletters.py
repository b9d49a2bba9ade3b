"""The dead-letter paths, with a producer and a processor that record what they are asked."""

from __future__ import annotations

from typing import Any

import pytest

from eventing import Event
from eventing.consumer.deadletters import DeadLetterError, DeadLetterPublisher, DeadLetters
from eventing.consumer.decoding import Poison
from eventing.consumer.status import Counters

pytestmark = pytest.mark.unit


class Producer:
    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[tuple[str, Any, Any, dict[str, bytes]]] = []

    def produce(self, topic: str, value: Any = None, key: Any = None, **kwargs: Any) -> None:
        if not self.fail:
            self.sent.append((topic, value, key, dict(kwargs["headers"])))

    def flush(self, timeout: float = -1) -> int:
        return 1 if self.fail else 0

    def poll(self, timeout: float = 0) -> int:
        return 0


class Processor:
    """Records the inbox writes; ``wanted=False``: the poison was dead-lettered before."""

    def __init__(self, *, wanted: bool = True) -> None:
        self.wanted = wanted
        self.recorded: list[str] = []

    def record_dead_letter(self, event: Event) -> None:
        self.recorded.append(event.id)

    def poison_wanted(self, event_id: str, headers: Any) -> bool:
        return self.wanted

    def record_poison(self, event_id: str, **where: Any) -> None:
        self.recorded.append(event_id)


class Message:
    def topic(self) -> str:
        return "orders"

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return 41

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return b"\x00garbage"

    def headers(self) -> list[tuple[str, bytes]]:
        return [("ce_id", b"p-1")]

    def error(self) -> None:
        return None


def paths(producer: Producer, processor: Processor) -> tuple[DeadLetters, Counters, list[tuple[Any, ...]]]:
    counters, notices = Counters(), []
    dead = DeadLetters(
        DeadLetterPublisher(producer, "g", "{group}.{topic}.dlt"),
        processor,  # type: ignore[arg-type]
        counters,
        lambda *notice: notices.append(notice),
    )
    return dead, counters, notices


def event() -> Event:
    return Event(
        id="e-1",
        type="order_created",
        source="/t",
        data={},
        key="k",
        topic="orders",
        partition=1,
        offset=7,
        headers={"ce_id": "e-1"},
        raw_value=b"avro",
    )


def test_an_exhausted_event_is_written_with_why_then_recorded() -> None:
    producer, processor = Producer(), Processor()
    dead, counters, notices = paths(producer, processor)
    dead.exhausted(event(), ValueError("no such customer"), attempts=5)
    ((topic, value, key, headers),) = producer.sent
    assert (topic, value, key) == ("g.orders.dlt", b"avro", b"k")
    assert headers["dlt.reason"] == b"handler_failed"
    assert headers["dlt.attempts"] == b"5"
    assert headers["dlt.exception.message"] == b"no such customer"
    assert (headers["dlt.original.partition"], headers["dlt.original.offset"]) == (b"1", b"7")
    assert processor.recorded == ["e-1"]
    assert counters.dead_lettered == 1
    assert notices == [("orders", "order_created", "handler_failed")]


def test_nothing_is_recorded_when_the_dead_letter_topic_cannot_be_written() -> None:
    processor = Processor()
    dead, counters, notices = paths(Producer(fail=True), processor)
    with pytest.raises(DeadLetterError):
        dead.exhausted(event(), ValueError("boom"), attempts=3)
    with pytest.raises(DeadLetterError):
        dead.poison(Poison(Message(), "undecodable", ValueError("bad avro")))  # type: ignore[arg-type]
    assert (processor.recorded, counters.dead_lettered, notices) == ([], 0, [])


def test_poison_goes_at_once_with_no_attempts() -> None:
    producer, processor = Producer(), Processor()
    dead, counters, notices = paths(producer, processor)
    dead.poison(Poison(Message(), "undecodable", ValueError("bad avro")))  # type: ignore[arg-type]
    ((topic, value, _key, headers),) = producer.sent
    assert (topic, value, headers["dlt.reason"], headers["dlt.attempts"]) == (
        "g.orders.dlt",
        b"\x00garbage",
        b"undecodable",
        b"0",
    )
    assert processor.recorded == ["p-1"]
    assert counters.dead_lettered == 1
    assert notices == [("orders", None, "undecodable")]


def test_poison_already_dead_lettered_is_counted_as_a_duplicate_and_not_written_again() -> None:
    producer = Producer()
    dead, counters, notices = paths(producer, Processor(wanted=False))
    dead.poison(Poison(Message(), "undecodable", ValueError("bad avro")))  # type: ignore[arg-type]
    assert (producer.sent, counters.duplicates, counters.dead_lettered, notices) == ([], 1, 0, [])
