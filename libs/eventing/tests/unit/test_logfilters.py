"""Repeated client errors during an outage are collapsed, not lost."""

from __future__ import annotations

import logging

import pytest

from eventing.consumer.kafka import kafka_logger
from eventing.logfilters import CollapseRepeats

pytestmark = pytest.mark.unit

REFUSED = (
    "FAIL [c#consumer-2] [thrd:127.0.0.1:9092/bootstrap]: Connect to ipv4#127.0.0.1:9092 failed: "
    "Connection refused (after %dms in state CONNECT)"
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("eventing.kafka.client", level, __file__, 1, msg, args, None)


def test_a_burst_of_repeats_is_one_line_then_a_count() -> None:
    clock = Clock()
    collapse = CollapseRepeats(window=30, clock=clock)
    # Given a broker down: a reconnect failure every 50 ms for 10 s (numbers vary)
    passed = []
    for attempt in range(200):
        clock.now = attempt * 0.05
        rec = record(REFUSED, attempt % 3)
        if collapse.filter(rec):
            passed.append(rec.getMessage())
    # Then only the first line was logged
    assert len(passed) == 1
    # When the window is over, the next one says how many were dropped
    clock.now = 31.0
    rec = record(REFUSED, 0)
    assert collapse.filter(rec)
    assert rec.getMessage().endswith("(199 similar messages suppressed in the last 30s)")


def test_a_different_error_and_lower_levels_are_not_suppressed() -> None:
    clock = Clock()
    collapse = CollapseRepeats(window=30, clock=clock)
    assert collapse.filter(record(REFUSED, 0))
    assert collapse.filter(record("Broker transport failure: %s", "Disconnected"))
    assert not collapse.filter(record(REFUSED, 1))
    # INFO lines (rebalances, assignments) always pass
    assert collapse.filter(record("Assigned partitions", level=logging.INFO))
    assert collapse.filter(record("Assigned partitions", level=logging.INFO))


def test_librdkafka_lines_go_through_the_filter() -> None:
    assert any(isinstance(f, CollapseRepeats) for f in kafka_logger.filters)
