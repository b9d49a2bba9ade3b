"""TopicReplay on the in-memory bus: up to the targets and no further, poison skipped, batches.

The real-Kafka run is the points service's rebuild test (tests/e2e/test_points_rebuild.py).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from eventing import Event
from eventing.consumer.registry import HandlerRegistry
from eventing.replay import ReplayError, TopicReplay
from eventing.runtime import get_codec
from eventing.serialization.registry import InMemorySchemaRegistry
from eventing.testing import InMemoryBroker, InMemoryReplayConsumer, cloudevent_message
from tests.testapp.events import ACCOUNT_STATE

pytestmark = pytest.mark.unit

TOPIC = ACCOUNT_STATE.topic


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0  # every look at the clock is a second later
        return self.now


@pytest.fixture
def bus(fake_registry: InMemorySchemaRegistry) -> InMemoryBroker:
    return InMemoryBroker(partitions=2)


def account(version: int, account_id: uuid.UUID | None = None) -> dict[str, object]:
    return {
        "id": account_id or uuid.uuid4(),
        "owner": "o",
        "balance": version,
        "opened_at": datetime.now(UTC),
        "version": version,
    }


def replay_of(bus: InMemoryBroker, calls: list[list[Event]], **options: Any) -> TopicReplay:
    handlers = HandlerRegistry()

    def apply(events: Sequence[Event]) -> None:
        calls.append(list(events))

    handlers.handler(ACCOUNT_STATE, batch=True)(apply)
    return TopicReplay(
        handlers,
        consumer=InMemoryReplayConsumer(bus),
        codec=get_codec(),
        atomic=contextlib.nullcontext,
        **options,
    )


def applied(calls: list[list[Event]]) -> list[str]:
    return [e.id for call in calls for e in call]


def test_every_event_up_to_the_targets_is_applied_once_and_nothing_past_them(bus: InMemoryBroker) -> None:
    first = [cloudevent_message(bus, ACCOUNT_STATE, account(1)) for _ in range(20)]
    calls: list[list[Event]] = []
    replay = replay_of(bus, calls, batch_size=7)
    cut = replay.end_offsets()
    later = [cloudevent_message(bus, ACCOUNT_STATE, account(2)) for _ in range(10)]

    replay.replay_to(cut)

    assert sorted(applied(calls)) == sorted(headers(m)["ce_id"] for m in first)
    assert replay.remaining(cut) == 0
    # The next call, with later targets, goes on where the first one stopped
    replay.replay_to(replay.end_offsets())
    assert sorted(applied(calls)) == sorted(headers(m)["ce_id"] for m in first + later)
    assert replay.stats.applied == 30 and replay.stats.read == 30


def test_events_of_one_partition_are_applied_in_offset_order(bus: InMemoryBroker) -> None:
    key = uuid.uuid4()
    sent = [cloudevent_message(bus, ACCOUNT_STATE, account(v, key)) for v in range(1, 13)]
    calls: list[list[Event]] = []
    replay = replay_of(bus, calls, batch_size=5)

    replay.replay_to(replay.end_offsets())

    assert applied(calls) == [headers(m)["ce_id"] for m in sent]
    assert [len(c) for c in calls] == [5, 5, 2]  # consecutive events reach the batch handler together


def test_undecodable_messages_are_counted_and_skipped(bus: InMemoryBroker) -> None:
    good = cloudevent_message(bus, ACCOUNT_STATE, account(1))
    bus.produce(TOPIC, b"not avro", b"k", [("ce_id", b"x"), ("ce_type", ACCOUNT_STATE.type.encode())])
    bus.produce(TOPIC, b"no envelope", b"k")
    calls: list[list[Event]] = []
    replay = replay_of(bus, calls)

    replay.replay_to(replay.end_offsets())

    assert applied(calls) == [headers(good)["ce_id"]]
    assert (replay.stats.read, replay.stats.applied, replay.stats.poison) == (3, 1, 2)


def test_a_partition_that_never_reaches_its_target_fails_after_the_idle_timeout(bus: InMemoryBroker) -> None:
    cloudevent_message(bus, ACCOUNT_STATE, account(1))
    calls: list[list[Event]] = []
    replay = replay_of(bus, calls, idle_timeout=5.0, clock=Clock())
    targets = replay.end_offsets()
    short = next(k for k, v in targets.items() if v)
    targets[short] += 3  # three messages that will never come

    with pytest.raises(ReplayError, match="short of their target"):
        replay.replay_to(targets)


def test_a_partition_added_during_the_replay_is_refused(bus: InMemoryBroker) -> None:
    cloudevent_message(bus, ACCOUNT_STATE, account(1))
    replay = replay_of(bus, [])
    replay.replay_to(replay.end_offsets())

    with pytest.raises(ReplayError, match="appeared"):
        replay.replay_to({**replay.end_offsets(), (TOPIC, 7): 1})


def headers(message: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in message.headers() if v is not None}


def test_messages_past_the_targets_are_kept_and_their_partition_paused_when_many(bus: InMemoryBroker) -> None:
    key = uuid.uuid4()
    cloudevent_message(bus, ACCOUNT_STATE, account(1, key))
    calls: list[list[Event]] = []
    replay = replay_of(bus, calls, max_ahead=3)
    cut = replay.end_offsets()
    later = [cloudevent_message(bus, ACCOUNT_STATE, account(v, key)) for v in range(2, 8)]
    consumer = replay.consumer
    assert isinstance(consumer, InMemoryReplayConsumer)

    replay.replay_to(cut)

    assert len(applied(calls)) == 1
    assert consumer.paused == {(TOPIC, later[0].partition())}  # more than max_ahead kept: fetch no more
    replay.replay_to(replay.end_offsets())
    assert applied(calls)[1:] == [headers(m)["ce_id"] for m in later]
    assert consumer.paused == set()
