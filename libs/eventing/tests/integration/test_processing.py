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
