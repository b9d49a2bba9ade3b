"""The batch processor: exactly-once effect, isolation of failures, per-key order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from eventing import Event
from eventing.consumer.processing import BatchProcessor, Outcome
from eventing.consumer.registry import HandlerRegistry
from eventing.inbox.models import InboxEntry
from eventing.testing import deliver, make_event
from tests.testapp.events import ACCOUNT_STATE
from tests.testapp.handlers import project_account
from tests.testapp.models import AccountProjection

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def state(
    account_id: uuid.UUID, *, version: int = 1, balance: int = 0, owner: str = "o"
) -> dict[str, object]:
    return {
        "id": account_id,
        "owner": owner,
        "balance": balance,
        "opened_at": datetime.now(UTC),
        "version": version,
    }


def test_duplicate_delivery_is_applied_once(fake_registry) -> None:
    # Given one event delivered twice (Kafka/Debezium redelivery)
    account_id = uuid.uuid4()
    event = make_event(ACCOUNT_STATE, state(account_id, balance=5))
    first = deliver([event])
    second = deliver([event])
    # Then the effect happened once
    assert first.outcomes == [Outcome.APPLIED]
    assert second.outcomes == [Outcome.DUPLICATE]
    assert AccountProjection.objects.get(account_id=account_id).applications == 1
    assert InboxEntry.objects.filter(consumer_group="tests", event_id=event.id).count() == 1


def test_duplicate_within_one_batch_is_applied_once(fake_registry) -> None:
    event = make_event(ACCOUNT_STATE, state(uuid.uuid4()))
    assert deliver([event, event]).outcomes == [Outcome.APPLIED, Outcome.DUPLICATE]


def test_stale_state_does_not_overwrite_newer_state(fake_registry) -> None:
    account_id = uuid.uuid4()
    newer = make_event(ACCOUNT_STATE, state(account_id, version=2, balance=20))
    older = make_event(ACCOUNT_STATE, state(account_id, version=1, balance=10))
    deliver([newer, older])
    assert AccountProjection.objects.get(account_id=account_id).balance == 20


def failing_for(owner: str) -> HandlerRegistry:
    """Handlers that fail for one owner's events (a poison event) and project the rest."""

    def handle(event: Event) -> None:
        if event.data["owner"] == owner:
            raise ValueError(f"cannot handle {owner}")
        project_account(event)

    registry = HandlerRegistry()
    registry.handler(ACCOUNT_STATE)(handle)
    return registry


def test_failing_event_blocks_only_its_own_key(fake_registry) -> None:
    # Given a batch where the second event of key A fails
    a, b = uuid.uuid4(), uuid.uuid4()
    events = [
        make_event(ACCOUNT_STATE, state(a, version=1)),
        make_event(ACCOUNT_STATE, state(a, version=2, owner="poison")),
        make_event(ACCOUNT_STATE, state(b, version=1)),
        make_event(ACCOUNT_STATE, state(a, version=3)),
    ]
    result = BatchProcessor("tests", failing_for("poison")).process(events)
    # Then A's first event and B are applied; A's later event waits behind the failure
    assert result.outcomes == [Outcome.APPLIED, Outcome.FAILED, Outcome.APPLIED, Outcome.DEFERRED]
    assert isinstance(result.errors[1], ValueError)
    assert AccountProjection.objects.get(account_id=a).version == 1
    assert AccountProjection.objects.filter(account_id=b).exists()
    # and the failed and deferred events were not recorded as processed
    assert not InboxEntry.objects.filter(event_id__in=[events[1].id, events[3].id]).exists()


def test_batch_handler_receives_consecutive_events_in_one_call(fake_registry) -> None:
    calls: list[int] = []
    registry = HandlerRegistry()

    @registry.handler(ACCOUNT_STATE, batch=True)
    def handle_many(events: list[Event]) -> None:
        calls.append(len(events))
        for event in events:
            project_account(event)

    events = [make_event(ACCOUNT_STATE, state(uuid.uuid4())) for _ in range(10)]
    BatchProcessor("tests", registry).process(events)
    assert calls == [10]
    assert AccountProjection.objects.count() == 10


def test_events_without_a_handler_are_skipped_not_failed(fake_registry) -> None:
    event = make_event(ACCOUNT_STATE, state(uuid.uuid4()))
    result = BatchProcessor("tests", HandlerRegistry()).process([event])
    assert result.outcomes == [Outcome.SKIPPED]


# -- batch handlers: one call per batch, falling back to one event at a time ---------------


def batch_failing_for(owner: str, calls: list[list[str]]) -> HandlerRegistry:
    """A batch handler that fails the whole call when one of its events is poison."""
    registry = HandlerRegistry()

    @registry.handler(ACCOUNT_STATE, batch=True)
    def handle_many(events: list[Event]) -> None:
        calls.append([e.id for e in events])
        if any(e.data["owner"] == owner for e in events):
            raise ValueError(f"cannot handle {owner}")
        for event in events:
            project_account(event)

    return registry


def test_poison_in_a_batch_handlers_batch_is_isolated_and_the_rest_applied(fake_registry) -> None:
    # Given a batch of three keys whose batch handler fails because of one poison event
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    events = [
        make_event(ACCOUNT_STATE, state(a)),
        make_event(ACCOUNT_STATE, state(b, owner="poison")),
        make_event(ACCOUNT_STATE, state(c)),
    ]
    calls: list[list[str]] = []
    result = BatchProcessor("tests", batch_failing_for("poison", calls)).process(events)
    # Then the batch was tried whole, then one event at a time: only the poison failed
    assert result.outcomes == [Outcome.APPLIED, Outcome.FAILED, Outcome.APPLIED]
    assert isinstance(result.errors[1], ValueError)
    assert calls == [[e.id for e in events], [events[0].id], [events[1].id], [events[2].id]]
    assert set(AccountProjection.objects.values_list("account_id", flat=True)) == {a, c}
    # and the poison is not recorded as processed (its retry or dead letter comes later)
    assert set(InboxEntry.objects.values_list("event_id", flat=True)) == {events[0].id, events[2].id}


def test_batch_handler_fallback_keeps_per_key_order(fake_registry) -> None:
    # Given key A's second event is poison, and A has a third event after it
    a, b = uuid.uuid4(), uuid.uuid4()
    events = [
        make_event(ACCOUNT_STATE, state(a, version=1)),
        make_event(ACCOUNT_STATE, state(a, version=2, owner="poison")),
        make_event(ACCOUNT_STATE, state(b, version=1)),
        make_event(ACCOUNT_STATE, state(a, version=3)),
    ]
    calls: list[list[str]] = []
    result = BatchProcessor("tests", batch_failing_for("poison", calls)).process(events)
    # Then A's third event is not applied before the failed one: it waits (deferred)
    assert result.outcomes == [Outcome.APPLIED, Outcome.FAILED, Outcome.APPLIED, Outcome.DEFERRED]
    assert [events[3].id] not in calls
    assert AccountProjection.objects.get(account_id=a).version == 1
    assert AccountProjection.objects.filter(account_id=b).exists()


def test_batch_handler_gets_each_event_once_despite_duplicates_and_redelivery(fake_registry) -> None:
    seen: list[str] = []
    registry = HandlerRegistry()

    @registry.handler(ACCOUNT_STATE, batch=True)
    def handle_many(events: list[Event]) -> None:
        seen.extend(e.id for e in events)
        for event in events:
            project_account(event)

    processor = BatchProcessor("tests", registry)
    earlier = make_event(ACCOUNT_STATE, state(uuid.uuid4()))
    processor.process([earlier])
    # Given a batch with a copy twice and an event applied by an earlier batch
    first, second = (make_event(ACCOUNT_STATE, state(uuid.uuid4())) for _ in range(2))
    result = processor.process([first, earlier, second, first])
    assert result.outcomes == [Outcome.APPLIED, Outcome.DUPLICATE, Outcome.APPLIED, Outcome.DUPLICATE]
    # and the whole batch redelivered (a restart before the offset commit)
    again = processor.process([first, earlier, second, first])
    assert again.outcomes == [Outcome.DUPLICATE] * 4
    # Then the handler saw each event exactly once, in order
    assert seen == [earlier.id, first.id, second.id]
    assert AccountProjection.objects.count() == 3


def test_large_batch_is_claimed_and_applied_in_one_call(fake_registry) -> None:
    calls: list[int] = []
    registry = HandlerRegistry()

    @registry.handler(ACCOUNT_STATE, batch=True)
    def handle_many(events: list[Event]) -> None:
        calls.append(len(events))

    events = [
        make_event(ACCOUNT_STATE, state(uuid.uuid4()), partition=i % 3, offset=10_000_000_000 + i)
        for i in range(5000)
    ]
    result = BatchProcessor("tests", registry).process(events)
    assert result.count(Outcome.APPLIED) == 5000 and calls == [5000]
    rows = InboxEntry.objects.filter(consumer_group="tests")
    assert rows.count() == 5000
    last = rows.get(event_id=events[-1].id)
    assert (last.partition, last.offset, last.status) == (4999 % 3, 10_000_004_999, "applied")
