"""Retry policies and the held keys, without Kafka or a database."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from eventing import Event
from eventing.consumer.registry import HandlerRegistry
from eventing.consumer.retry import Backoff, HeldKey, RetryPolicy, RetryScheduler

pytestmark = pytest.mark.unit

NO_JITTER = Backoff(initial=1.0, multiplier=2.0, maximum=10.0, jitter=0.0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def event(offset: int, *, key: str = "k", type: str = "b", partition: int = 0) -> Event:
    return Event(
        id=f"e{offset}",
        type=type,
        source="/t",
        data={},
        key=key,
        topic="t",
        partition=partition,
        offset=offset,
    )


def by_type(policies: dict[str, RetryPolicy]) -> Callable[[Event], RetryPolicy]:
    return lambda e: policies[e.type]


def failing(
    calls: list[list[int]], fail: Callable[[Event], bool]
) -> Callable[[list[Event]], tuple[int, BaseException | None]]:
    """An attempt that finishes events from the front until one for which ``fail`` is true."""

    def attempt(events: list[Event]) -> tuple[int, BaseException | None]:
        calls.append([e.offset for e in events])
        for index, e in enumerate(events):
            if fail(e):
                return index, ValueError(f"failed at {e.offset}")
        return len(events), None

    return attempt


def test_a_held_key_keeps_its_order_and_is_retried_only_when_due() -> None:
    clock = Clock()
    retries = RetryScheduler(by_type({"b": RetryPolicy(5, NO_JITTER)}), clock)
    retries.hold(event(0), ValueError("boom"))
    assert retries.queue_if_held(event(1))
    assert not retries.queue_if_held(event(2, key="other"))
    assert retries.held_count == 2
    calls: list[list[int]] = []
    retries.retry_due(failing(calls, lambda e: False), lambda h: None)
    assert calls == []  # the first backoff (1 s) has not elapsed
    clock.now += 1.0
    retries.retry_due(failing(calls, lambda e: False), lambda h: None)
    assert calls == [[0, 1]]  # the head, then what waited behind it, in order
    assert retries.held_count == 0


def test_backoff_grows_with_each_failed_attempt_of_the_head() -> None:
    clock = Clock()
    retries = RetryScheduler(by_type({"b": RetryPolicy(5, NO_JITTER)}), clock)
    held = retries.hold(event(0), ValueError("boom"))
    attempt = failing([], lambda e: True)
    waits = []
    for _ in range(3):
        waits.append(held.due_at - clock.now)
        clock.now = held.due_at
        retries.retry_due(attempt, lambda h: None)
    assert waits == [1.0, 2.0, 4.0]
    assert held.attempts == 4


def test_each_head_is_retried_under_its_own_handlers_policy() -> None:
    # Given a key whose head belongs to a handler allowing 1 attempt, followed by one allowing 3
    clock = Clock()
    retries = RetryScheduler(by_type({"a": RetryPolicy(1, NO_JITTER), "b": RetryPolicy(3, NO_JITTER)}), clock)
    retries.hold(event(0, type="a"), ValueError("a failed"))
    retries.queue_if_held(event(1, type="b"))
    dead: list[tuple[int, int]] = []

    def dead_letter(held: HeldKey) -> None:
        dead.append((held.head.offset, held.attempts))

    calls: list[list[int]] = []
    attempt = failing(calls, lambda e: True)
    clock.now += 1.0
    retries.retry_due(attempt, dead_letter)
    # Then the head of handler "a" is dead-lettered without being tried again,
    # and the next event is tried at once with a fresh set of attempts
    assert dead == [(0, 1)]
    assert calls == [[1]]
    for _ in range(3):
        clock.now += 10.0
        retries.retry_due(attempt, dead_letter)
    # handler "b"'s event: 3 attempts in all, then dead-lettered, and the key is released
    assert calls == [[1], [1], [1]]
    assert dead == [(0, 1), (1, 3)]
    assert retries.held_count == 0


def test_a_dead_letter_that_cannot_be_written_keeps_the_head_held() -> None:
    clock = Clock()
    retries = RetryScheduler(by_type({"b": RetryPolicy(1, NO_JITTER)}), clock)
    retries.hold(event(0), ValueError("boom"))

    def kafka_down(held: HeldKey) -> None:
        raise ConnectionError("dead-letter topic unavailable")

    clock.now += 1.0
    with pytest.raises(ConnectionError):
        retries.retry_due(failing([], lambda e: True), kafka_down)
    assert [offset for _t, _p, offset in retries.unfinished()] == [0]


def test_a_new_head_that_fails_starts_with_one_attempt() -> None:
    clock = Clock()
    retries = RetryScheduler(by_type({"b": RetryPolicy(3, NO_JITTER)}), clock)
    held = retries.hold(event(0), ValueError("boom"))
    retries.queue_if_held(event(1))
    clock.now += 1.0
    retries.retry_due(failing([], lambda e: e.offset == 1), lambda h: None)
    assert (held.head.offset, held.attempts, held.due_at - clock.now) == (1, 1, 1.0)
    assert str(held.last_error) == "failed at 1"


def test_forgetting_a_partition_drops_its_held_keys_only() -> None:
    retries = RetryScheduler(by_type({"b": RetryPolicy()}), Clock())
    retries.hold(event(0, key="x", partition=0), ValueError())
    retries.hold(event(3, key="y", partition=1), ValueError())
    retries.forget({("t", 0)})
    assert list(retries.unfinished()) == [("t", 1, 3)]


def test_a_policy_allows_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(max_attempts=0)


def test_handlers_carry_their_policy() -> None:
    handlers = HandlerRegistry()
    policy = RetryPolicy(max_attempts=2, backoff=NO_JITTER)

    def on_raw(e: Event) -> None: ...

    handlers.raw_handler("cdc.topic", event_id=lambda value, message: "id", retry=policy)(on_raw)
    handler = handlers.for_raw_topic("cdc.topic")
    assert handler is not None and handler.retry is policy
