"""The consumer runner on the in-memory bus: retries, dead letters, commits, shutdown.

Real Kafka runs the consumer scenarios in ``test_real_stack.py`` and the group rebalances in
``test_rebalance.py``.
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
from eventing.inbox.models import InboxEntry
from eventing.runtime import get_codec
from eventing.testing import InMemoryBroker, InMemoryConsumer, InMemoryProducer, cloudevent_message
from tests.testapp.events import ACCOUNT_STATE
from tests.testapp.handlers import project_account
from tests.testapp.models import AccountProjection

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


def test_poison_message_goes_to_dead_letter_topic_and_the_next_event_is_applied(
    fake_registry, broker
) -> None:
    # Given an undecodable message followed by a good event on the same key
    clock = FakeClock()
    runner, _, _ = make_runner(broker, project_account, clock)
    account_id = uuid.uuid4()
    broker.produce(
        ACCOUNT_STATE.topic,
        b"\x00garbage",
        str(account_id).encode(),
        [("ce_id", b"bad-1"), ("ce_type", b"account_state")],
    )
    cloudevent_message(broker, ACCOUNT_STATE, state(account_id))
    # When the consumer runs once
    runner.run_once()
    # Then the poison is dead-lettered with the reason, the good event applied, both committed
    (dead,) = broker.messages(DLT)
    headers = dict(dead.headers())
    assert headers["dlt.reason"] == b"undecodable"
    assert headers["dlt.original.topic"] == ACCOUNT_STATE.topic.encode()
    assert b"DecodeError" in headers["dlt.exception.type"]
    assert dead.value() == b"\x00garbage"
    assert AccountProjection.objects.filter(account_id=account_id).exists()
    assert committed(broker) == 2


def test_message_without_cloudevents_id_is_dead_lettered(fake_registry, broker) -> None:
    runner, _, _ = make_runner(broker, project_account, FakeClock())
    broker.produce(ACCOUNT_STATE.topic, b"whatever", b"k", [("ce_type", b"account_state")])
    runner.run_once()
    (dead,) = broker.messages(DLT)
    assert dict(dead.headers())["dlt.reason"] == b"invalid_envelope"


def test_failing_handler_is_retried_with_backoff_then_succeeds(fake_registry, broker) -> None:
    # Given a handler that fails twice, then works (a transient problem)
    clock = FakeClock()
    failures = {"left": 2}

    def flaky(event: Event) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("downstream hiccup")
        project_account(event)

    runner, _, _ = make_runner(broker, flaky, clock, max_attempts=5)
    account_id = uuid.uuid4()
    cloudevent_message(broker, ACCOUNT_STATE, state(account_id))
    runner.run_once()
    assert not AccountProjection.objects.filter(account_id=account_id).exists()
    assert committed(broker) == 0  # not committed while held
    # When time passes the backoff (1s, then 2s)
    runner.run_once()  # not due yet: nothing happens
    assert failures["left"] == 1
    clock.advance(1.0)
    runner.run_once()
    assert failures["left"] == 0
    clock.advance(2.0)
    runner.run_once()
    # Then it is applied once and committed; nothing was dead-lettered
    assert AccountProjection.objects.get(account_id=account_id).applications == 1
    assert committed(broker) == 1
    assert broker.messages(DLT) == []


def test_exhausted_retries_dead_letter_the_event_and_release_its_key(fake_registry, broker) -> None:
    # Given key A's first event always fails, and later events for A and B
    clock = FakeClock()

    def handle(event: Event) -> None:
        if event.data["owner"] == "poison":
            raise ValueError("business rule violated")
        project_account(event)

    runner, _, _ = make_runner(broker, handle, clock, max_attempts=3)
    a, b = uuid.uuid4(), uuid.uuid4()
    poison = cloudevent_message(broker, ACCOUNT_STATE, state(a, owner="poison"))
    cloudevent_message(broker, ACCOUNT_STATE, state(a, version=2))
    cloudevent_message(broker, ACCOUNT_STATE, state(b))
    # When the consumer runs: B is applied at once, A waits behind its failing head
    runner.run_once()
    assert AccountProjection.objects.filter(account_id=b).exists()
    assert not AccountProjection.objects.filter(account_id=a).exists()
    for _ in range(3):
        clock.advance(10)
        runner.run_once()
    # Then A's poison is in the dead-letter topic with the reason and attempts...
    (dead,) = broker.messages(DLT)
    headers = dict(dead.headers())
    assert headers["dlt.reason"] == b"handler_failed"
    assert headers["dlt.attempts"] == b"3"
    assert headers["dlt.exception.message"] == b"business rule violated"
    assert headers["dlt.original.offset"] == str(poison.offset()).encode()
    assert headers["ce_id"] == dict(poison.headers())["ce_id"]
    assert dead.value() == poison.value()
    # ...A's next event was applied after it, and everything is committed
    assert AccountProjection.objects.get(account_id=a).version == 2
    assert InboxEntry.objects.get(event_id=headers["ce_id"].decode()).status == "dead_lettered"
    assert committed(broker) == 3


def test_unknown_event_type_is_skipped_and_committed(fake_registry, broker) -> None:
    runner, _, _ = make_runner(broker, project_account, FakeClock())
    cloudevent_message(broker, ACCOUNT_STATE, state(uuid.uuid4()), headers={"ce_type": "account_renamed_v9"})
    runner.run_once()
    assert runner.counters.skipped == 1
    assert committed(broker) == 1
    assert broker.messages(DLT) == []


def test_held_offset_is_not_committed_past(fake_registry, broker) -> None:
    # Given a failing event at the head of a partition and later events on other keys
    clock = FakeClock()

    def handle(event: Event) -> None:
        if event.data["owner"] == "poison":
            raise ValueError("no")
        project_account(event)

    runner, _, _ = make_runner(broker, handle, clock, max_attempts=10)
    poison = cloudevent_message(broker, ACCOUNT_STATE, state(uuid.uuid4(), owner="poison"))
    for _ in range(20):
        cloudevent_message(broker, ACCOUNT_STATE, state(uuid.uuid4()))
    runner.run_once()
    # Then the poison's partition is committed up to (not past) the poison
    position = runner.commit_positions()[(ACCOUNT_STATE.topic, poison.partition())]
    assert position == poison.offset()


def test_shutdown_commits_what_was_applied_and_closes(fake_registry, broker) -> None:
    runner, consumer, _ = make_runner(broker, project_account, FakeClock())
    for _ in range(5):
        cloudevent_message(broker, ACCOUNT_STATE, state(uuid.uuid4()))
    runner.run_once()
    runner.close()
    assert consumer.closed
    assert committed(broker) == 5


def test_restart_after_crash_redelivers_without_double_effect(fake_registry, broker) -> None:
    # Given events applied but the offset commit lost (crash between DB commit and Kafka commit)
    account_id = uuid.uuid4()
    cloudevent_message(broker, ACCOUNT_STATE, state(account_id, balance=7))
    runner, consumer, _ = make_runner(broker, project_account, FakeClock())
    runner.run_once()
    broker.committed.clear()
    consumer.crash()
    # When a new consumer starts from the last committed offset
    again, _, _ = make_runner(broker, project_account, FakeClock())
    again.run_once()
    # Then the redelivered event changes nothing
    assert again.counters.duplicates == 1
    assert AccountProjection.objects.get(account_id=account_id).applications == 1


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
