"""Group rebalances on the in-memory bus: deterministic versions of ``test_rebalance.py``.

Rebalance callbacks run inside ``consume()``, as librdkafka's do, so a revoke can land in the
middle of the runner's poll. The invariant under test: an offset is committed only after the
event at it was applied (or dead-lettered) in a committed transaction, and only by the member
that owns the partition.
"""

from __future__ import annotations

import collections
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from eventing import Event
from eventing.consumer.registry import HandlerRegistry
from eventing.consumer.retry import Backoff
from eventing.consumer.runner import ConsumerRunner, RunnerConfig
from eventing.runtime import get_codec
from eventing.testing import InMemoryBroker, InMemoryConsumer, InMemoryProducer, cloudevent_message
from tests.integration.test_runner_in_memory import FakeClock as Clock
from tests.testapp.events import ACCOUNT_OPENED
from tests.testapp.handlers import record_applications
from tests.testapp.models import AppliedEvent

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GROUP = "tests.rebalance"
TOPIC = ACCOUNT_OPENED.topic


def member(
    broker: InMemoryBroker,
    *,
    protocol: str = "eager",
    handle: Callable[[list[Event]], None] = record_applications,
    consumer: InMemoryConsumer | None = None,
    clock: Clock | None = None,
) -> ConsumerRunner:
    """A runner in GROUP with a batch handler; it joins the group at once."""
    handlers = HandlerRegistry()
    handlers.handler(ACCOUNT_OPENED, batch=True)(handle)
    clock = clock or Clock()
    runner = ConsumerRunner(
        group=GROUP,
        handlers=handlers,
        consumer=consumer or InMemoryConsumer(broker, GROUP, protocol=protocol),
        producer=InMemoryProducer(broker),
        codec=get_codec(),
        config=RunnerConfig(
            batch_size=100,
            poll_timeout=0,
            max_attempts=3,
            backoff=Backoff(initial=1.0, multiplier=2.0, maximum=10.0, jitter=0.0),
            inbox_purge_interval=0,
        ),
        clock=clock,
        wait=clock.advance,
    )
    runner.subscribe()
    return runner


def event_id(message: Any) -> str:
    return str(dict(message.headers())["ce_id"].decode())


def account_id(partition: int | None) -> uuid.UUID:
    """A fresh aggregate id, one that the broker puts on ``partition`` if given."""
    while True:
        candidate = uuid.uuid4()
        if partition is None or zlib.crc32(str(candidate).encode()) % 3 == partition:
            return candidate


def backlog(broker: InMemoryBroker, count: int, *, partition: int | None = None) -> set[str]:
    """``count`` events of fresh accounts; their ids."""
    ids = set()
    opened_at = datetime.now(UTC)
    for _ in range(count):
        data = {"id": account_id(partition), "owner": "o", "balance": 0, "opened_at": opened_at, "version": 1}
        ids.add(event_id(cloudevent_message(broker, ACCOUNT_OPENED, data)))
    return ids


def drain(*runners: ConsumerRunner, rounds: int = 200) -> None:
    for _ in range(rounds):
        for runner in runners:
            runner.run_once()


def assert_each_applied_once(broker: InMemoryBroker, ids: set[str]) -> None:
    counts = collections.Counter(AppliedEvent.objects.values_list("event_id", flat=True))
    assert ids - counts.keys() == set(), "events lost"
    assert {i: n for i, n in counts.items() if n > 1} == {}, "events applied twice"
    for partition, log in enumerate(broker.topics[TOPIC]):
        assert broker.committed.get((GROUP, TOPIC, partition), 0) == len(log)
    assert broker.foreign_commits == []


@pytest.mark.parametrize("protocol", ["eager", "cooperative"])
def test_member_joining_while_the_first_polls_loses_no_batch(fake_registry, broker, protocol) -> None:
    # Given a member that has applied the first batch of a backlog (300 per partition)
    ids = backlog(broker, 900)
    first = member(broker, protocol=protocol)
    first.run_once()
    assert AppliedEvent.objects.count() == 100
    # When a second member joins: the first sees the revoke inside its next poll, and the
    # same poll returns a batch of a partition it keeps
    second = member(broker, protocol=protocol)
    drain(first, second)
    # Then every event is applied once and every partition committed to its end
    assert_each_applied_once(broker, ids)
    assert first.counters.applied + second.counters.applied == 900
    assert second.counters.applied > 0


@pytest.mark.parametrize("protocol", ["eager", "cooperative"])
def test_lost_assignment_inside_a_poll_loses_no_batch(fake_registry, broker, protocol) -> None:
    # Given a member that has applied a batch
    ids = backlog(broker, 900)
    first = member(broker, protocol=protocol)
    first.run_once()
    # When its assignment is lost (session timed out) and given back within one poll
    first.consumer.lose_assignment()  # type: ignore[attr-defined]
    drain(first)
    # Then nothing is lost
    assert_each_applied_once(broker, ids)


class RebalancingConsumer(InMemoryConsumer):
    """Runs ``hooks[n]`` just before its n-th ``consume()`` call (1-based)."""

    def __init__(self, *args: Any, hooks: dict[int, Callable[[], None]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hooks = hooks
        self.calls = 0

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Any]:
        self.calls += 1
        hook = self.hooks.pop(self.calls, None)
        if hook is not None:
            hook()
        return super().consume(num_messages, timeout)


def test_messages_fetched_before_a_revoke_in_the_same_poll_are_left_to_the_new_owner(
    fake_registry, broker
) -> None:
    # Given a member that owns every partition, with nothing to read yet
    joined: list[ConsumerRunner] = []
    ids: set[str] = set()
    consumer = RebalancingConsumer(
        broker,
        GROUP,
        hooks={
            # its next poll's blocking call returns one event of partition 1...
            4: lambda: ids.update(backlog(broker, 1, partition=1)),
            # ...and a member joins (and is given partition 1) before the call that fills the batch
            5: lambda: joined.append(member(broker)),
        },
    )
    first = member(broker, consumer=consumer)
    first.run_once()  # calls 1-2: assigned, nothing there
    # When that poll runs
    first.run_once()
    # Then the first member neither applied nor committed the event of the partition it lost
    assert broker.owner(GROUP, TOPIC, 1) is joined[0].consumer
    assert first.counters.applied == 0
    assert broker.foreign_commits == []
    # And the new owner applies it, once
    drain(first, *joined)
    assert joined[0].counters.applied == 1
    assert_each_applied_once(broker, ids)


def test_revoke_commits_up_to_a_held_event_and_the_new_owner_retries_it(fake_registry, broker) -> None:
    # Given a member whose handler fails on an event of partition 1 (held for retry)
    victim = sorted(backlog(broker, 1, partition=1))[0]
    ids = {victim} | backlog(broker, 30)
    (victim_offset,) = [m.offset() for m in broker.messages(TOPIC) if event_id(m) == victim]
    failing = {"on": True}

    def handle(events: list[Event]) -> None:
        if failing["on"] and any(e.id == victim for e in events):
            raise ConnectionError("downstream not ready")
        record_applications(events)

    clock = Clock()
    first = member(broker, handle=handle, clock=clock)
    drain(first, rounds=3)
    assert first.held_count >= 1
    # When a second member joins and is given partition 1
    second = member(broker, handle=handle, clock=clock)
    first.run_once()  # the revoke is served in this poll
    assert broker.owner(GROUP, TOPIC, 1) is second.consumer
    # Then partition 1 was committed up to the held event, not past it
    assert broker.committed[(GROUP, TOPIC, 1)] == victim_offset
    assert first.held_count == 0
    # And once the handler recovers, the new owner applies it: each event once
    failing["on"] = False
    for _ in range(10):
        clock.advance(30)
        drain(first, second, rounds=1)
    assert_each_applied_once(broker, ids)


def test_a_failed_asynchronous_commit_is_sent_again(fake_registry, broker) -> None:
    # Given a member that applied its backlog and sent its commits
    ids = backlog(broker, 30)
    first = member(broker)
    drain(first, rounds=3)
    assert_each_applied_once(broker, ids)
    # When the broker reports that the asynchronous commit failed (a rebalance was under way)
    lost = {(t, p): o for (g, t, p), o in broker.committed.items() if g == GROUP}
    broker.committed.clear()
    first.on_commit(
        RuntimeError("REBALANCE_IN_PROGRESS"), [_Committed(t, p, o) for (t, p), o in lost.items()]
    )
    # Then the next loop commits again, though no new event arrived
    first.run_once()
    assert_each_applied_once(broker, ids)


class _Committed:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self.topic, self.partition, self.offset, self.error = topic, partition, offset, None
