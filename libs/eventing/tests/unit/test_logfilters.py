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


def test_each_kind_has_its_own_window() -> None:
    clock = Clock()
    collapse = CollapseRepeats(window=10, clock=clock)
    assert collapse.filter(record(REFUSED, 0))
    clock.now = 8.0
    assert collapse.filter(record("Broker transport failure: %s", "Disconnected"))  # a new kind at 8 s
    clock.now = 11.0
    assert collapse.filter(record(REFUSED, 1))  # the first kind's window is over...
    assert not collapse.filter(record("Broker transport failure: %s", "Disconnected"))  # ...not this one's


def test_the_same_text_at_another_level_is_another_kind() -> None:
    collapse = CollapseRepeats(window=30, clock=Clock())
    assert collapse.filter(record(REFUSED, 0, level=logging.WARNING))
    assert collapse.filter(record(REFUSED, 0, level=logging.ERROR))


def test_the_number_of_kinds_tracked_is_bounded_and_the_oldest_forgotten() -> None:
    collapse = CollapseRepeats(window=30, max_kinds=2, clock=Clock())
    for text in ("first failure", "second failure", "third failure"):
        assert collapse.filter(record(text))
    assert len(collapse._seen) == 2
    assert collapse.filter(record("first failure"))  # forgotten: let through again
    assert not collapse.filter(record("third failure"))  # still tracked: suppressed


def test_a_record_without_repeats_keeps_its_arguments() -> None:
    collapse = CollapseRepeats(window=30, clock=Clock())
    rec = record("Connect to %s failed", "127.0.0.1:9092")
    assert collapse.filter(rec)
    assert rec.args == ("127.0.0.1:9092",) and rec.getMessage() == "Connect to 127.0.0.1:9092 failed"
