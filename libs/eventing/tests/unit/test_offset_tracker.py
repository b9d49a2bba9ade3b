"""The offset tracker: what a member commits, and when it commits nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from eventing.consumer.offsets import OffsetTracker

pytestmark = pytest.mark.unit

T = "orders"


@dataclass
class Part:
    """A partition as the rebalance callbacks and on_commit receive it."""

    topic: str
    partition: int
    offset: int = -1001
    error: Any = None


class RecordingConsumer:
    """Records the commits sent; can refuse them like Kafka does during a rebalance."""

    def __init__(self) -> None:
        self.commits: list[tuple[dict[tuple[str, int], int], bool]] = []
        self.refuse = False

    def commit(self, *, offsets: list[Any], asynchronous: bool = True) -> None:
        if self.refuse:
            raise RuntimeError("REBALANCE_IN_PROGRESS")
        self.commits.append(({(o.topic, o.partition): o.offset for o in offsets}, asynchronous))


def tracker(unfinished: list[tuple[str, int, int]] | None = None) -> tuple[OffsetTracker, RecordingConsumer]:
    consumer = RecordingConsumer()
    held = unfinished if unfinished is not None else []
    offsets = OffsetTracker(consumer, lambda: list(held), "g")  # type: ignore[arg-type]
    offsets.on_assign(None, [Part(T, 0), Part(T, 1)])
    return offsets, consumer


def read(offsets: OffsetTracker, partition: int, upto: int) -> None:
    for offset in range(upto):
        offsets.seen(T, partition, offset)


def test_positions_never_pass_a_held_or_pending_offset() -> None:
    unfinished = [(T, 0, 7), (T, 0, 4), (T, 1, 9)]
    offsets, consumer = tracker(unfinished)
    read(offsets, 0, 10)
    read(offsets, 1, 10)
    offsets.commit(asynchronous=True)
    assert consumer.commits == [({(T, 0): 4, (T, 1): 9}, True)]
    # once the held events are finished, the commit moves to the end of what was read
    unfinished.clear()
    offsets.commit(asynchronous=True)
    assert consumer.commits[-1] == ({(T, 0): 10, (T, 1): 10}, True)


def test_nothing_is_committed_twice_and_nothing_for_unread_partitions() -> None:
    offsets, consumer = tracker()
    read(offsets, 0, 3)
    offsets.commit(asynchronous=True)
    offsets.commit(asynchronous=True)
    assert consumer.commits == [({(T, 0): 3}, True)]


def test_a_revoked_partition_is_committed_synchronously_then_forgotten() -> None:
    forgotten: list[set[tuple[str, int]]] = []
    consumer = RecordingConsumer()
    offsets = OffsetTracker(consumer, list, "g", forgotten=forgotten.append)  # type: ignore[arg-type]
    offsets.on_assign(None, [Part(T, 0), Part(T, 1)])
    read(offsets, 0, 5)
    read(offsets, 1, 5)
    offsets.commit(asynchronous=True)
    offsets.on_revoke(None, [Part(T, 0)])
    # the revoke sends partition 0's position again, synchronously (force), and nothing else
    assert consumer.commits[-1] == ({(T, 0): 5}, False)
    assert forgotten == [{(T, 0)}]
    assert (T, 0) not in offsets.positions()
    # a message of the revoked partition seen afterwards records no progress
    offsets.seen(T, 0, 5)
    offsets.commit(asynchronous=False)
    assert (T, 0) not in offsets.positions()
    assert len(consumer.commits) == 2


def test_a_lost_partition_is_forgotten_without_any_commit() -> None:
    offsets, consumer = tracker()
    read(offsets, 0, 5)
    offsets.on_lost(None, [Part(T, 0)])
    offsets.commit(asynchronous=False)
    assert consumer.commits == []
    assert offsets.positions() == {}


def test_a_failed_async_commit_is_sent_again() -> None:
    offsets, consumer = tracker()
    read(offsets, 0, 5)
    offsets.commit(asynchronous=True)
    # librdkafka reports later that the commit failed (e.g. sent during a rebalance)
    offsets.on_commit("REBALANCE_IN_PROGRESS", [Part(T, 0, offset=5)])
    offsets.commit(asynchronous=True)
    assert consumer.commits == [({(T, 0): 5}, True), ({(T, 0): 5}, True)]


def test_a_successful_async_commit_is_not_sent_again() -> None:
    offsets, consumer = tracker()
    read(offsets, 0, 5)
    offsets.commit(asynchronous=True)
    offsets.on_commit(None, [Part(T, 0, offset=5)])
    offsets.commit(asynchronous=True)
    assert len(consumer.commits) == 1


def test_a_commit_refused_at_once_is_sent_again() -> None:
    offsets, consumer = tracker()
    read(offsets, 0, 5)
    consumer.refuse = True
    offsets.commit(asynchronous=True)
    consumer.refuse = False
    offsets.commit(asynchronous=True)
    assert consumer.commits == [({(T, 0): 5}, True)]


class Message:
    def __init__(self, partition: int, *, error: Any = None) -> None:
        self._partition, self._error = partition, error

    def topic(self) -> str:
        return T

    def partition(self) -> int:
        return self._partition

    def error(self) -> Any:
        return self._error


def test_messages_of_partitions_revoked_during_the_poll_are_dropped() -> None:
    offsets, _ = tracker()
    offsets.on_revoke(None, [Part(T, 1)])
    mine, theirs, failure = Message(0), Message(1), Message(1, error="broker down")
    assert offsets.owned_only([mine, theirs, failure]) == [mine, failure]
