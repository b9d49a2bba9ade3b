"""The consumer runner on the in-memory bus: what the contract suite does not cover.

The runner's contract (poison, retry, exhausted retries, held offsets, restart, graceful
stop) runs on this bus and on real Kafka alike in ``test_contracts.py``; group rebalances in
``test_rebalance_in_memory.py`` and ``test_rebalance.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from eventing import Event
from eventing.consumer.registry import HandlerRegistry
from eventing.consumer.retry import Backoff
from eventing.consumer.runner import ConsumerRunner, RunnerConfig
from eventing.runtime import get_codec
from eventing.testing import InMemoryBroker, InMemoryConsumer, InMemoryProducer, cloudevent_message
from tests.testapp.events import ACCOUNT_STATE
from tests.testapp.handlers import project_account

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GROUP = "tests.runner"
DLT = f"{GROUP}.{ACCOUNT_STATE.topic}.dlt"


class FakeClock:
    """Time that only moves when the test says so (no sleeping in tests)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def state(
    account_id: uuid.UUID, *, version: int = 1, owner: str = "o", balance: int = 0
) -> dict[str, object]:
    return {
        "id": account_id,
        "owner": owner,
        "balance": balance,
        "opened_at": datetime.now(UTC),
        "version": version,
    }


def make_runner(
    broker: InMemoryBroker, handle: Callable[[Event], None], clock: FakeClock, max_attempts: int = 3
) -> tuple[ConsumerRunner, InMemoryConsumer, InMemoryProducer]:
    handlers = HandlerRegistry()
    handlers.handler(ACCOUNT_STATE)(handle)
    consumer = InMemoryConsumer(broker, GROUP)
    producer = InMemoryProducer(broker)
    runner = ConsumerRunner(
        group=GROUP,
        handlers=handlers,
        consumer=consumer,
        producer=producer,
        codec=get_codec(),
        config=RunnerConfig(
            batch_size=100,
            poll_timeout=0,
            max_attempts=max_attempts,
            backoff=Backoff(initial=1.0, multiplier=2.0, maximum=10.0, jitter=0.0),
            inbox_purge_interval=0,
        ),
        clock=clock,
        wait=clock.advance,  # waiting for infrastructure just moves the fake clock
    )
    runner.subscribe()
    return runner, consumer, producer


def committed(broker: InMemoryBroker) -> int:
    return sum(o for (g, _t, _p), o in broker.committed.items() if g == GROUP)


def test_message_without_cloudevents_id_is_dead_lettered(fake_registry, broker) -> None:
    runner, _, _ = make_runner(broker, project_account, FakeClock())
    broker.produce(ACCOUNT_STATE.topic, b"whatever", b"k", [("ce_type", b"account_state")])
    runner.run_once()
    (dead,) = broker.messages(DLT)
    assert dict(dead.headers())["dlt.reason"] == b"invalid_envelope"


def test_unknown_event_type_is_skipped_and_committed(fake_registry, broker) -> None:
    runner, _, _ = make_runner(broker, project_account, FakeClock())
    cloudevent_message(broker, ACCOUNT_STATE, state(uuid.uuid4()), headers={"ce_type": "account_renamed_v9"})
    runner.run_once()
    assert runner.counters.skipped == 1
    assert committed(broker) == 1
    assert broker.messages(DLT) == []


def test_shutdown_commits_what_was_applied_and_closes(fake_registry, broker) -> None:
    runner, consumer, _ = make_runner(broker, project_account, FakeClock())
    for _ in range(5):
        cloudevent_message(broker, ACCOUNT_STATE, state(uuid.uuid4()))
    runner.run_once()
    runner.close()
    assert consumer.closed
    assert committed(broker) == 5


def test_dead_letter_write_failure_commits_nothing_and_retries(fake_registry, broker) -> None:
    # Given Kafka refuses the dead-letter write
    clock = FakeClock()
    runner, _, producer = make_runner(broker, project_account, clock)
    producer.fail = True
    broker.produce(ACCOUNT_STATE.topic, b"\x00bad", b"k", [("ce_id", b"x"), ("ce_type", b"account_state")])
    runner.run_once()
    assert committed(broker) == 0
    # When Kafka is back
    producer.fail = False
    runner.run_once()
    # Then the poison is dead-lettered and committed
    assert len(broker.messages(DLT)) == 1
    assert committed(broker) == 1
