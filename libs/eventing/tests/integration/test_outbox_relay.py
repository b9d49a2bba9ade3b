"""The in-memory outbox relay itself (its end-to-end scenarios are the OutboxContract's in
test_contracts.py): what it relays, when, and where it refuses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import transaction

from eventing import publish
from eventing.outbox.models import OutboxEvent
from eventing.testing import InMemoryBroker, InMemoryOutboxRelay
from tests.testapp.events import ACCOUNT_STATE

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def account() -> dict[str, object]:
    return {"id": uuid.uuid4(), "owner": "o", "balance": 0, "opened_at": datetime.now(UTC), "version": 1}


def test_rows_from_before_the_relay_and_rows_already_relayed_are_not_relayed_again(
    fake_registry, broker: InMemoryBroker
) -> None:
    with transaction.atomic():
        publish(ACCOUNT_STATE, account())  # before the relay existed
    with InMemoryOutboxRelay(broker) as relay:
        with transaction.atomic():
            first = publish(ACCOUNT_STATE, account())
        assert [dict(m.headers())["ce_id"] for m in relay.relay()] == [str(first).encode()]
        assert relay.relay() == []
        with transaction.atomic():
            second = publish(ACCOUNT_STATE, account())
        assert [dict(m.headers())["ce_id"] for m in relay.relay()] == [str(second).encode()]
    assert len(broker.messages(ACCOUNT_STATE.topic)) == 2


def test_the_relay_refuses_to_read_inside_a_transaction(fake_registry, broker: InMemoryBroker) -> None:
    relay = InMemoryOutboxRelay(broker)
    with pytest.raises(RuntimeError, match=r"outside transaction\.atomic\(\)"), transaction.atomic():
        relay.relay()


def test_rows_are_kept_for_the_relay_while_it_is_used_even_with_delete_after_insert(
    fake_registry, broker: InMemoryBroker, settings
) -> None:
    settings.EVENTING = {**settings.EVENTING, "OUTBOX_DELETE_AFTER_INSERT": True}
    with InMemoryOutboxRelay(broker) as relay:
        with transaction.atomic():
            publish(ACCOUNT_STATE, account())
        assert len(relay.relay()) == 1
    with transaction.atomic():
        publish(ACCOUNT_STATE, account())  # the setting is back once the block is left
    assert OutboxEvent.objects.count() == 1


def test_a_column_without_a_value_becomes_a_header_without_a_value(
    fake_registry, broker: InMemoryBroker
) -> None:
    with InMemoryOutboxRelay(broker) as relay:
        with transaction.atomic():
            event_id = publish(ACCOUNT_STATE, account())
        OutboxEvent.objects.filter(id=event_id).update(dataschema=None)
        (message,) = relay.relay()
    assert dict(message.headers())["ce_dataschema"] is None
    assert message.key() == OutboxEvent.objects.get(id=event_id).key.encode()
