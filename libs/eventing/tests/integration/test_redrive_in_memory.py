"""Dead-letter redrive on the in-memory bus: applied once, loop guard, replays add no dead letters.

The same scenarios against real Kafka (through ``manage.py eventing_dlt``) are in
``test_redrive_real.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from eventing import Event
from eventing.conf import eventing_settings
from eventing.consumer.registry import HandlerRegistry
from eventing.consumer.retry import Backoff
from eventing.consumer.runner import ConsumerRunner, RunnerConfig
from eventing.inbox.models import InboxEntry
from eventing.redrive import REDRIVE_ID_HEADER
from eventing.redrive.dead_letters import (
    DeadLetter,
    RedriveError,
    Selection,
    list_dead_letters,
    plan_redrive,
    redrive,
)
from eventing.redrive.models import DeadLetterRedrive
from eventing.runtime import get_codec
from eventing.testing import InMemoryBroker, InMemoryConsumer, InMemoryProducer, cloudevent_message
from tests.integration.test_runner_in_memory import FakeClock, state
from tests.testapp.events import ACCOUNT_STATE
from tests.testapp.handlers import project_account
from tests.testapp.models import AccountProjection

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GROUP = "tests.redrive"
DLT = f"{GROUP}.{ACCOUNT_STATE.topic}.dlt"


class Harness:
    """A consumer of GROUP on the in-memory bus whose handler can be broken and fixed."""

    def __init__(self, broker: InMemoryBroker, *, max_attempts: int = 2) -> None:
        self.broker = broker
        self.clock = FakeClock()
        self.broken = True
        self.max_attempts = max_attempts
        self.runner = self.start()

    def handle(self, event: Event) -> None:
        if self.broken and event.data["owner"] == "poison":
            raise ValueError("owner 'poison' not allowed")
        project_account(event)

    def start(self) -> ConsumerRunner:
        handlers = HandlerRegistry()
        handlers.handler(ACCOUNT_STATE)(self.handle)
        runner = ConsumerRunner(
            group=GROUP,
            handlers=handlers,
            consumer=InMemoryConsumer(self.broker, GROUP),
            producer=InMemoryProducer(self.broker),
            codec=get_codec(),
            config=RunnerConfig(
                batch_size=100,
                poll_timeout=0,
                max_attempts=self.max_attempts,
                backoff=Backoff(initial=1.0, multiplier=2.0, maximum=1.0, jitter=0.0),
                inbox_purge_interval=0,
            ),
            clock=self.clock,
            wait=self.clock.advance,
        )
        runner.subscribe()
        return runner

    def drain(self) -> None:
        """Run until nothing is held (retries exhausted or applied)."""
        self.runner.run_once()
        for _ in range(self.max_attempts + 1):
            self.clock.advance(10)
            self.runner.run_once()
        assert self.runner.held_count == 0

    def replay(self) -> None:
        """Forget the group's committed offsets and consume everything again (a reset)."""
        self.runner.close()
        for key in [k for k in self.broker.committed if k[0] == GROUP]:
            del self.broker.committed[key]
        self.runner = self.start()
        self.drain()

    def letters(self, max_redrives: int = 3) -> list[DeadLetter]:
        return list_dead_letters(
            GROUP,
            self.broker,
            get_codec(),
            template=str(eventing_settings.DEAD_LETTER_TOPIC),
            max_redrives=max_redrives,
        )

    def redrive(
        self, selection: Selection, *, force: bool = False, max_redrives: int = 3
    ) -> list[DeadLetterRedrive]:
        plan = plan_redrive(self.letters(max_redrives), selection, force=force)
        return redrive(GROUP, plan, InMemoryProducer(self.broker), force=force, redriven_by="test")


@pytest.fixture
def harness(fake_registry, broker) -> Harness:
    return Harness(broker)


def poison_state(account_id: uuid.UUID) -> dict[str, object]:
    return state(account_id, owner="poison", balance=5)


def test_poison_then_fixed_event_is_applied_once_after_redrive(harness: Harness) -> None:
    # Given an event dead-lettered by a handler that could not take it
    account_id = uuid.uuid4()
    poison = cloudevent_message(harness.broker, ACCOUNT_STATE, poison_state(account_id))
    event_id = dict(poison.headers())["ce_id"].decode()
    harness.drain()
    (letter,) = harness.letters()
    assert (letter.event_id, letter.reason, letter.status) == (event_id, "handler_failed", "pending")
    assert letter.data["owner"] == "poison"  # decoded through the registry
    assert "owner 'poison' not allowed" in letter.exception
    assert (letter.original_partition, letter.original_offset) == (poison.partition(), poison.offset())
    assert InboxEntry.objects.get(consumer_group=GROUP, event_id=event_id).status == "dead_lettered"
    # When the handler is fixed and the dead letter is redriven by id
    harness.broken = False
    (record,) = harness.redrive(Selection(ids=[event_id]))
    harness.drain()
    # Then the event is applied, once, and the record says so
    assert AccountProjection.objects.get(account_id=account_id).balance == 5
    assert harness.runner.counters.applied == 1
    assert InboxEntry.objects.get(consumer_group=GROUP, event_id=event_id).status == "applied"
    record.refresh_from_db()
    assert (record.outcome, record.redrive_count, record.source_topic) == ("applied", 1, ACCOUNT_STATE.topic)
    (letter,) = harness.letters()
    assert letter.status == "redriven: applied"
    # ...a second delivery of the copy (or a replay of the topic) changes nothing...
    harness.replay()
    assert harness.runner.counters.applied == 0
    assert AccountProjection.objects.get(account_id=account_id).applications == 1
    assert len(harness.broker.messages(DLT)) == 1
    # ...and the same dead letter is not sent twice without --force
    (item,) = plan_redrive(harness.letters(), Selection(all=True))
    assert not item.redrives and "already redriven" in item.action


def test_redriven_copy_is_only_reapplied_by_the_group_that_redrove_it(harness: Harness) -> None:
    # Given the redriven copy of a dead letter of GROUP on the source topic
    account_id = uuid.uuid4()
    cloudevent_message(harness.broker, ACCOUNT_STATE, poison_state(account_id))
    harness.drain()
    harness.broken = False
    harness.redrive(Selection(all=True))
    # When another group, which had dead-lettered the same event too, reads the topic
    (copy,) = [
        m for m in harness.broker.messages(ACCOUNT_STATE.topic) if REDRIVE_ID_HEADER in dict(m.headers())
    ]
    other = InboxEntry.objects.get(consumer_group=GROUP)
    InboxEntry.objects.create(
        consumer_group="tests.other",
        event_id=other.event_id,
        topic="t",
        partition=0,
        offset=0,
        status="dead_lettered",
    )
    from eventing.consumer.processing import BatchProcessor

    processor = BatchProcessor("tests.other", harness.runner.handlers)
    decoded = harness.runner.decoder.decode(copy)
    assert isinstance(decoded, Event)
    # Then it is a duplicate there: its dead-lettered row is not claimed
    (outcome,) = processor.process([decoded]).outcomes
    assert outcome.value == "duplicate"


def test_loop_guard_refuses_an_event_that_keeps_failing_unless_forced(fake_registry, broker) -> None:
    # Given an event that fails, is redriven, and fails again (the handler is still broken)
    harness = Harness(broker)
    cloudevent_message(broker, ACCOUNT_STATE, poison_state(uuid.uuid4()))
    harness.drain()
    (first,) = harness.redrive(Selection(reason="handler_failed"), max_redrives=1)
    harness.drain()
    first.refresh_from_db()
    assert first.outcome == "failed"
    old, new = harness.letters(max_redrives=1)
    assert old.status == "redriven: failed"
    assert (new.status, new.redrive_count) == ("loop-guard", 1)
    # When it is selected again
    plan = plan_redrive(harness.letters(max_redrives=1), Selection(all=True))
    # Then the guard refuses it, and nothing is sent...
    assert [i.action.split(":")[0] for i in plan] == ["skipped", "refused"]
    assert harness.redrive(Selection(all=True), max_redrives=1) == []
    assert len(broker.messages(ACCOUNT_STATE.topic)) == 2
    # ...unless forced, which is recorded
    harness.broken = False
    (forced,) = harness.redrive(Selection(all=True), max_redrives=1, force=True)
    harness.drain()
    forced.refresh_from_db()
    assert (forced.redrive_count, forced.forced, forced.outcome) == (2, True, "applied")


def test_replaying_the_topic_writes_no_second_dead_letter(harness: Harness) -> None:
    # Given an undecodable message and an event its handler rejects, both dead-lettered
    harness.broker.produce(
        ACCOUNT_STATE.topic, b"\x00garbage", b"k1", [("ce_id", b"bad-1"), ("ce_type", b"account_state")]
    )
    harness.broker.produce(ACCOUNT_STATE.topic, b"no-envelope", b"k2", [])
    cloudevent_message(harness.broker, ACCOUNT_STATE, poison_state(uuid.uuid4()))
    harness.drain()
    assert len(harness.broker.messages(DLT)) == 3
    # When the group is reset to the beginning and the topic consumed again
    harness.replay()
    # Then the dead-letter topic still has the three, and the consumer counted them as done
    assert len(harness.broker.messages(DLT)) == 3
    assert harness.runner.counters.dead_lettered == 0
    assert harness.runner.counters.duplicates == 3


def test_a_redriven_copy_that_is_still_undecodable_is_dead_lettered_again(harness: Harness) -> None:
    # Given an undecodable message, dead-lettered
    harness.broker.produce(
        ACCOUNT_STATE.topic, b"\x00garbage", b"k1", [("ce_id", b"bad-2"), ("ce_type", b"account_state")]
    )
    harness.drain()
    # When it is redriven as it is (chosen by its position in the dead-letter topic)
    (letter,) = harness.letters()
    (record,) = harness.redrive(Selection(ids=[f"{DLT}:{letter.position}"]))
    harness.drain()
    # Then it is back in the dead-letter topic (not skipped as a duplicate), recorded as failed
    record.refresh_from_db()
    assert record.outcome == "failed"
    assert [x.status for x in harness.letters()] == ["redriven: failed", "pending"]
    assert harness.letters()[1].redrive_count == 1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Selection(), "--id, --reason or --all"),
        (lambda: plan_redrive([], Selection(ids=["nope"])), "No dead letter with id or position nope"),
    ],
)
def test_bad_selection_is_refused_with_the_reason(make: Callable[[], object], message: str) -> None:
    with pytest.raises(RedriveError, match=message):
        make()


def test_admin_actions_list_and_redrive_the_selected_groups_dead_letters(
    harness: Harness, monkeypatch
) -> None:
    from datetime import UTC, datetime

    from django.contrib.admin import AdminSite

    from eventing.admin import ConsumerStatusAdmin
    from eventing.inbox.models import ConsumerStatus
    from eventing.redrive import dead_letters

    # Given a dead letter of GROUP, whose consumer status row an operator selects
    account_id = uuid.uuid4()
    poison = cloudevent_message(harness.broker, ACCOUNT_STATE, poison_state(account_id))
    harness.drain()
    now = datetime.now(UTC)
    ConsumerStatus.objects.create(
        member=f"{GROUP}/h/1", consumer_group=GROUP, host="h", pid=1, started_at=now, seen_at=now
    )
    monkeypatch.setattr(dead_letters, "kafka_source", lambda: harness.broker)
    monkeypatch.setattr(dead_letters, "kafka_producer", lambda: InMemoryProducer(harness.broker))
    model_admin = ConsumerStatusAdmin(ConsumerStatus, AdminSite())
    said: list[str] = []
    monkeypatch.setattr(model_admin, "message_user", lambda request, text, *a, **k: said.append(text))
    selected = ConsumerStatus.objects.filter(consumer_group=GROUP)
    # When they list, then redrive, after the handler was fixed
    model_admin.list_dead_letters(None, selected)  # type: ignore[arg-type]
    harness.broken = False
    model_admin.redrive_dead_letters(None, selected)  # type: ignore[arg-type]
    harness.drain()
    # Then the listing named the event and its reason, and the redrive applied it
    event_id = dict(poison.headers())["ce_id"].decode()
    assert said[0] == f"{GROUP}: 1 dead letters"
    assert event_id in said[1] and "handler_failed" in said[1] and "[pending]" in said[1]
    assert said[2] == f"{GROUP}: redrove 1, refused 0 (loop guard)"
    assert AccountProjection.objects.get(account_id=account_id).balance == 5
    assert DeadLetterRedrive.objects.get(event_id=event_id).redriven_by == "admin:None"
