"""The status reporter's lag: computed without a blocking broker round trip in the loop."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from eventing.consumer.kafka import StatusReporter

pytestmark = pytest.mark.unit


class TP(SimpleNamespace):
    topic: str
    partition: int
    offset: int


class FakeKafkaConsumer:
    """Cached watermarks per partition; an uncached query fails the test (it would block)."""

    def __init__(self, high: dict[int, int], committed: dict[int, int]) -> None:
        self.high = high
        self.committed_offsets = committed
        self.committed_calls = 0

    def assignment(self) -> list[TP]:
        return [TP(topic="t", partition=p, offset=-1001) for p in sorted(self.high)]

    def get_watermark_offsets(self, tp: TP, timeout: float = -1, cached: bool = False) -> tuple[int, int]:
        if not cached:
            raise AssertionError("uncached watermark query: waits behind the fetch in flight")
        return 0, self.high[tp.partition]

    def committed(self, partitions: list[TP], timeout: float = -1) -> list[TP]:
        self.committed_calls += 1
        return [
            TP(topic=tp.topic, partition=tp.partition, offset=self.committed_offsets[tp.partition])
            for tp in partitions
        ]


def runner(consumer: Any, positions: dict[tuple[str, int], int], closed: bool = False) -> Any:
    return SimpleNamespace(
        consumer=consumer, commit_positions=lambda: dict(positions), closed=closed, group="g"
    )


def test_lag_counts_from_applied_positions_and_committed_offsets_of_unread_partitions() -> None:
    consumer = FakeKafkaConsumer(high={0: 100, 1: 50, 2: 7}, committed={1: 40, 2: -1001})
    reporter = StatusReporter()
    # partition 0: applied up to 90; 1: not read yet, committed 40; 2: never committed
    assert reporter.lag(runner(consumer, {("t", 0): 90})) == 10 + 10 + 7


def test_committed_offsets_are_looked_up_once_per_assignment() -> None:
    consumer = FakeKafkaConsumer(high={0: 10, 1: 10}, committed={0: 10, 1: 4})
    reporter = StatusReporter()
    for _ in range(3):
        assert reporter.lag(runner(consumer, {})) == 6
    assert consumer.committed_calls == 1


def test_lag_is_unknown_before_the_first_fetch_and_after_close() -> None:
    consumer = FakeKafkaConsumer(high={0: -1001}, committed={0: 0})
    assert StatusReporter().lag(runner(consumer, {})) is None
    assert StatusReporter().lag(runner(FakeKafkaConsumer({0: 5}, {0: 0}), {}, closed=True)) is None
