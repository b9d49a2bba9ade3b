"""TopicReplay's edges on the in-memory bus: a missing topic, a failing handler, events no
handler takes, per-event handlers, offsets without a message, and closing."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from eventing import Event
from eventing.consumer.registry import HandlerRegistry
from eventing.events import EventType
from eventing.replay import ReplayError, TopicReplay, replay_consumer_config
from eventing.runtime import get_codec
from eventing.serialization.registry import InMemorySchemaRegistry
from eventing.testing import InMemoryBroker, InMemoryReplayConsumer, cloudevent_message
from tests.testapp.events import ACCOUNT_STATE

pytestmark = pytest.mark.unit

TOPIC = ACCOUNT_STATE.topic


@pytest.fixture
def bus(fake_registry: InMemorySchemaRegistry) -> InMemoryBroker:
    return InMemoryBroker(partitions=2)


def account(version: int = 1, account_id: uuid.UUID | None = None, owner: str = "o") -> dict[str, object]:
    return {
        "id": account_id or uuid.uuid4(),
        "owner": owner,
        "balance": 0,
        "opened_at": datetime.now(UTC),
        "version": version,
    }


def replay_with(bus: InMemoryBroker, handlers: HandlerRegistry, **options: Any) -> TopicReplay:
    options.setdefault("consumer", InMemoryReplayConsumer(bus))
    return TopicReplay(handlers, codec=get_codec(), atomic=contextlib.nullcontext, **options)


def ce_id(message: Any) -> str:
    return dict(message.headers())["ce_id"].decode()


def test_a_topic_that_does_not_exist_is_refused_by_name(bus: InMemoryBroker) -> None:
    handlers = HandlerRegistry()
    handlers.handler(EventType("account_state", "no_such_topic", ACCOUNT_STATE.schema, owned=False))(
        lambda e: None
    )
    with pytest.raises(ReplayError, match="Topic no_such_topic not found"):
        replay_with(bus, handlers).end_offsets()


def test_a_failing_handler_aborts_the_replay_and_a_later_call_is_refused(bus: InMemoryBroker) -> None:
    sent = [cloudevent_message(bus, ACCOUNT_STATE, account(owner=o)) for o in ("a", "bad", "c")]
    seen: list[str] = []

    def handle(event: Event) -> None:
        if event.data["owner"] == "bad":
            raise ValueError("handler bug")
        seen.append(event.id)

    handlers = HandlerRegistry()
    handlers.handler(ACCOUNT_STATE)(handle)
    replay = replay_with(bus, handlers)
    cut = replay.end_offsets()
    with pytest.raises(ValueError, match="handler bug"):
        replay.replay_to(cut)
    # Going on would skip the events of the failed batch: the replay refuses instead
    with pytest.raises(ReplayError, match="start a new replay"):
        replay.replay_to(cut)
    assert ce_id(sent[1]) not in seen


def test_a_new_replay_after_a_failure_applies_everything(bus: InMemoryBroker) -> None:
    sent = [cloudevent_message(bus, ACCOUNT_STATE, account()) for _ in range(4)]
    broken = {"yes": True}
    seen: list[str] = []

    def handle(event: Event) -> None:
        if broken["yes"]:
            raise ConnectionError("database went away")
        seen.append(event.id)

    handlers = HandlerRegistry()
    handlers.handler(ACCOUNT_STATE)(handle)
    with pytest.raises(ConnectionError):
        replay_with(bus, handlers).replay_to({(TOPIC, 0): 99, (TOPIC, 1): 99})
    broken["yes"] = False
    fresh = replay_with(bus, handlers)
    fresh.replay_to(fresh.end_offsets())
    assert sorted(seen) == sorted(ce_id(m) for m in sent)


def test_events_no_handler_takes_are_counted_as_skipped(bus: InMemoryBroker) -> None:
    other = EventType("account_closed", TOPIC, ACCOUNT_STATE.schema, owned=False)
    cloudevent_message(bus, ACCOUNT_STATE, account())
    cloudevent_message(bus, other, account())
    seen: list[str] = []
    handlers = HandlerRegistry()
    handlers.handler(ACCOUNT_STATE)(lambda e: seen.append(e.type))
    replay = replay_with(bus, handlers)
    stats = replay.replay_to(replay.end_offsets())
    assert seen == ["account_state"]
    assert (stats.read, stats.applied, stats.skipped, stats.poison) == (2, 1, 1, 0)


def test_a_per_event_handler_gets_one_event_per_call_in_partition_order(bus: InMemoryBroker) -> None:
    key = uuid.uuid4()
    sent = [cloudevent_message(bus, ACCOUNT_STATE, account(v, key)) for v in range(1, 6)]
    calls: list[list[int]] = []
    handlers = HandlerRegistry()

    def handle(event: Event) -> None:
        calls.append([event.data["version"]])

    handlers.handler(ACCOUNT_STATE)(handle)
    replay = replay_with(bus, handlers, batch_size=100)
    stats = replay.replay_to(replay.end_offsets())
    assert calls == [[1], [2], [3], [4], [5]]
    assert stats.batches == 1 and stats.applied == len(sent)


def test_a_batch_handler_gets_runs_of_events(bus: InMemoryBroker) -> None:
    key = uuid.uuid4()
    for v in range(1, 6):
        cloudevent_message(bus, ACCOUNT_STATE, account(v, key))
    calls: list[list[int]] = []
    handlers = HandlerRegistry()

    def handle(events: Sequence[Event]) -> None:
        calls.append([e.data["version"] for e in events])

    handlers.handler(ACCOUNT_STATE, batch=True)(handle)
    replay = replay_with(bus, handlers, batch_size=100)
    replay.replay_to(replay.end_offsets())
    assert calls == [[1, 2, 3, 4, 5]]


class MarkerConsumer(InMemoryReplayConsumer):
    """A partition whose last offset is a transaction marker: no message, the position moves past it."""

    def __init__(self, broker: InMemoryBroker, markers: dict[tuple[str, int], int]) -> None:
        super().__init__(broker)
        self.markers = markers

    def get_watermark_offsets(
        self, partition: Any, timeout: float | None = None, cached: bool = False
    ) -> tuple[int, int]:
        low, high = super().get_watermark_offsets(partition, timeout, cached)
        return low, high + self.markers.get((partition.topic, partition.partition), 0)

    def position(self, partitions: list[Any]) -> list[Any]:
        from confluent_kafka import TopicPartition

        result = []
        for tp in partitions:
            key = (tp.topic, tp.partition)
            read = self.positions.get(key, 0)
            ends_at = len(self.broker._topic(tp.topic)[tp.partition])
            result.append(
                TopicPartition(
                    tp.topic, tp.partition, read + self.markers.get(key, 0) if read >= ends_at else read
                )
            )
        return result


def test_offsets_without_a_message_do_not_stall_the_replay(bus: InMemoryBroker) -> None:
    key = uuid.uuid4()
    sent = [cloudevent_message(bus, ACCOUNT_STATE, account(v, key)) for v in range(1, 4)]
    partition = sent[0].partition()
    seen: list[str] = []
    handlers = HandlerRegistry()
    handlers.handler(ACCOUNT_STATE)(lambda e: seen.append(e.id))
    consumer = MarkerConsumer(bus, {(TOPIC, partition): 1})
    ticks = iter(range(1_000_000))
    replay = replay_with(bus, handlers, consumer=consumer, idle_timeout=5.0, clock=lambda: float(next(ticks)))
    targets = replay.end_offsets()
    assert targets[(TOPIC, partition)] == 4  # three events and a commit marker
    replay.replay_to(targets)
    assert seen == [ce_id(m) for m in sent]
    assert replay.remaining(targets) == 0
    assert replay.positions()[(TOPIC, partition)] == 4


def test_a_replay_consumer_never_commits_and_its_group_is_unique() -> None:
    first, second = replay_consumer_config("points"), replay_consumer_config("points")
    assert first["enable.auto.commit"] is False and first["enable.auto.offset.store"] is False
    assert first["group.id"].startswith("points.replay-") and first["group.id"] != second["group.id"]


def test_closing_closes_both_clients(bus: InMemoryBroker) -> None:
    handlers = HandlerRegistry()
    handlers.handler(ACCOUNT_STATE)(lambda e: None)
    consumer, metadata = InMemoryReplayConsumer(bus), InMemoryReplayConsumer(bus)
    replay_with(bus, handlers, consumer=consumer, metadata=metadata).close()
    assert consumer.closed and metadata.closed


def test_a_registry_that_cannot_be_reached_aborts_the_replay_for_good(
    bus: InMemoryBroker, fake_registry: InMemorySchemaRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventing.exceptions import SchemaRegistryUnavailable

    cloudevent_message(bus, ACCOUNT_STATE, account())
    seen: list[str] = []
    handlers = HandlerRegistry()
    handlers.handler(ACCOUNT_STATE)(lambda e: seen.append(e.id))
    codec = get_codec()

    def unreachable(schema_id: int) -> Any:
        raise SchemaRegistryUnavailable("registry down")

    monkeypatch.setattr(codec, "writer_schema", unreachable)
    replay = TopicReplay(
        handlers, consumer=InMemoryReplayConsumer(bus), codec=codec, atomic=contextlib.nullcontext
    )
    cut = replay.end_offsets()
    with pytest.raises(SchemaRegistryUnavailable):
        replay.replay_to(cut)
    monkeypatch.undo()
    with pytest.raises(ReplayError, match=r"SchemaRegistryUnavailable: registry down.*start a new replay"):
        replay.replay_to(cut)
    assert seen == []
