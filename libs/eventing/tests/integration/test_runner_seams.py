"""The runner's seams on the in-memory bus: a retry policy per handler, a middleware protocol."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from eventing import Event
from eventing.consumer.middleware import ConsumerMiddlewareProtocol
from eventing.consumer.processing import BatchResult, Outcome
from eventing.consumer.registry import HandlerRegistry
from eventing.consumer.retry import Backoff, RetryPolicy
from eventing.consumer.runner import ConsumerRunner, RunnerConfig
from eventing.runtime import get_codec
from eventing.testing import InMemoryBroker, InMemoryConsumer, InMemoryProducer, cloudevent_message
from tests.testapp.events import ACCOUNT_OPENED, ACCOUNT_STATE

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GROUP = "tests.seams"
STEP = Backoff(initial=1.0, multiplier=1.0, maximum=1.0, jitter=0.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A third-party middleware: all the hooks, no base class."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def before_batch(self, runner: ConsumerRunner, events: Sequence[Event], *, retry: bool) -> None:
        self.calls.append(("before_batch", len(events), retry))

    def after_batch(
        self,
        runner: ConsumerRunner,
        events: Sequence[Event],
        result: BatchResult,
        seconds: float,
        *,
        retry: bool,
    ) -> None:
        self.calls.append(("after_batch", len(events), retry))

    def on_outcome(self, runner: ConsumerRunner, event: Event, outcome: Outcome) -> None:
        self.calls.append(("on_outcome", event.type, outcome))

    def on_retry(self, runner: ConsumerRunner, event: Event) -> None:
        self.calls.append(("on_retry", event.type))

    def on_dead_letter(self, runner: ConsumerRunner, topic: str, event_type: str | None, reason: str) -> None:
        self.calls.append(("on_dead_letter", event_type, reason))

    def on_report(self, runner: ConsumerRunner) -> None:
        self.calls.append(("on_report",))


def state() -> dict[str, object]:
    return {"id": uuid.uuid4(), "owner": "o", "balance": 0, "opened_at": datetime.now(UTC), "version": 1}


def runner_on(
    broker: InMemoryBroker,
    handlers: HandlerRegistry,
    clock: Clock,
    middleware: Sequence[ConsumerMiddlewareProtocol],
) -> ConsumerRunner:
    runner = ConsumerRunner(
        group=GROUP,
        handlers=handlers,
        consumer=InMemoryConsumer(broker, GROUP),
        producer=InMemoryProducer(broker),
        codec=get_codec(),
        # the default policy (the settings' in production): 3 attempts
        config=RunnerConfig(poll_timeout=0, max_attempts=3, backoff=STEP, inbox_purge_interval=0),
        clock=clock,
        wait=lambda seconds: None,
        middleware=middleware,
    )
    runner.subscribe()
    return runner


def dead_letters(broker: InMemoryBroker, topic: str) -> list[dict[str, bytes]]:
    return [dict(m.headers()) for m in broker.messages(f"{GROUP}.{topic}.dlt")]


def test_each_handler_is_retried_under_its_own_policy(fake_registry, broker) -> None:
    # Given handler A allows one attempt, handler B five, handler C has no policy (the default)
    attempts = {"A": 0, "B": 0, "C": 0}
    handlers = HandlerRegistry()

    def failing(name: str) -> Any:
        def handle(event: Event) -> None:
            attempts[name] += 1
            raise ValueError(f"{name} refuses")

        return handle

    handlers.handler(ACCOUNT_STATE, retry=RetryPolicy(max_attempts=1, backoff=STEP))(failing("A"))
    handlers.handler(ACCOUNT_OPENED, retry=RetryPolicy(max_attempts=5, backoff=STEP))(failing("B"))
    clock = Clock()
    runner = runner_on(broker, handlers, clock, [])
    cloudevent_message(broker, ACCOUNT_STATE, state())
    cloudevent_message(broker, ACCOUNT_OPENED, state())
    # When both fail and time moves on, one backoff step per loop
    runner.run_once()
    clock.now += 1.0
    runner.run_once()
    # Then A is dead-lettered after its single attempt, while B is still being retried
    (dead_a,) = dead_letters(broker, ACCOUNT_STATE.topic)
    assert (dead_a["dlt.reason"], dead_a["dlt.attempts"]) == (b"handler_failed", b"1")
    assert dead_letters(broker, ACCOUNT_OPENED.topic) == []
    assert attempts == {"A": 1, "B": 2, "C": 0}
    for _ in range(5):
        clock.now += 1.0
        runner.run_once()
    # B had its five attempts before it was dead-lettered
    (dead_b,) = dead_letters(broker, ACCOUNT_OPENED.topic)
    assert dead_b["dlt.attempts"] == b"5"
    assert attempts == {"A": 1, "B": 5, "C": 0}
    assert runner.held_count == 0
    assert sum(o for (g, _t, _p), o in broker.committed.items() if g == GROUP) == 2


def test_a_handler_without_a_policy_gets_the_consumers_default(fake_registry, broker) -> None:
    calls = []
    handlers = HandlerRegistry()

    def refuse(event: Event) -> None:
        calls.append(event.id)
        raise ValueError("no")

    handlers.handler(ACCOUNT_STATE)(refuse)
    clock = Clock()
    runner = runner_on(broker, handlers, clock, [])
    cloudevent_message(broker, ACCOUNT_STATE, state())
    runner.run_once()
    for _ in range(3):
        clock.now += 1.0
        runner.run_once()
    (dead,) = dead_letters(broker, ACCOUNT_STATE.topic)
    assert dead["dlt.attempts"] == b"3"
    assert len(calls) == 3


def test_a_middleware_that_does_not_inherit_gets_every_hook(fake_registry, broker) -> None:
    recorder = Recorder()
    assert isinstance(recorder, ConsumerMiddlewareProtocol)
    failures = {"left": 1}
    handlers = HandlerRegistry()

    def flaky(event: Event) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise ValueError("once")

    handlers.handler(ACCOUNT_STATE)(flaky)
    handlers.handler(ACCOUNT_OPENED, retry=RetryPolicy(max_attempts=1, backoff=STEP))(
        lambda event: (_ for _ in ()).throw(ValueError("never"))
    )
    clock = Clock()
    runner = runner_on(broker, handlers, clock, [recorder])
    cloudevent_message(broker, ACCOUNT_STATE, state())
    runner.run_once()
    clock.now += 1.0
    runner.run_once()
    cloudevent_message(broker, ACCOUNT_OPENED, state())
    runner.run_once()
    clock.now += 1.0
    runner.run_once()
    seen = {c[0] for c in recorder.calls}
    assert seen == {"before_batch", "after_batch", "on_outcome", "on_retry", "on_dead_letter", "on_report"}
    assert ("on_outcome", ACCOUNT_STATE.type, Outcome.APPLIED) in recorder.calls
    assert ("on_retry", ACCOUNT_STATE.type) in recorder.calls
    assert ("after_batch", 1, True) in recorder.calls
    assert ("on_dead_letter", ACCOUNT_OPENED.type, "handler_failed") in recorder.calls
