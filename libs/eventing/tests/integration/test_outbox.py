"""The outbox write path against PostgreSQL (no Kafka needed)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from eventing import EventingError, Outgoing, publish, publish_many
from eventing.cdc import reemit_outbox
from eventing.exceptions import NotInTransaction, SchemaNotRegistered
from eventing.outbox.models import OutboxEvent
from eventing.runtime import use_registry
from eventing.testing import captured_outbox
from eventing.tracing import trace_context
from tests.testapp.events import ACCOUNT_STATE
from tests.testapp.models import Account
from tests.testapp.services import account_open, account_state

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_committed_change_writes_one_event_with_cloudevents_attributes(fake_registry) -> None:
    # When an account is opened (domain row + event in one transaction)
    with captured_outbox() as events:
        account = account_open(owner="Bart", balance=10)
    # Then exactly one event describes it
    (event,) = events
    assert event.type == "account_state"
    assert event.topic == ACCOUNT_STATE.topic
    assert event.key == str(account.id)
    assert event.source == "/eventing-tests"
    assert event.headers["ce_specversion"] == "1.0"
    assert event.headers["content-type"] == "application/avro"
    schema_id = fake_registry.lookup(ACCOUNT_STATE.subject, _schema_text())
    assert event.headers["ce_dataschema"] == f"urn:schema-registry:ids:{schema_id}"
    datetime.strptime(event.headers["ce_time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert event.data["id"] == account.id
    assert event.data["owner"] == "Bart"
    assert event.data["version"] == 1


def _schema_text() -> str:
    import json

    from eventing.conf import eventing_settings
    from eventing.serialization.avro import canonical_json

    return canonical_json(json.dumps(ACCOUNT_STATE.load_schema(eventing_settings.schema_root())))


def open_then_fail(owner: str) -> None:
    """A request that writes (and publishes), then fails: its transaction rolls back."""
    with transaction.atomic():
        account_open(owner=owner)
        raise RuntimeError("the request failed after the write")


def test_rolled_back_change_writes_no_event(fake_registry) -> None:
    with captured_outbox() as events, pytest.raises(RuntimeError):
        open_then_fail("Lisa")
    assert events == []
    assert not Account.objects.filter(owner="Lisa").exists()


def test_outbox_stays_empty_when_rows_are_deleted_in_the_same_transaction(fake_registry, settings) -> None:
    # Given delete after insert (Debezium reads the insert from the WAL)
    settings.EVENTING = {**settings.EVENTING, "OUTBOX_DELETE_AFTER_INSERT": True}
    for i in range(5):
        account_open(owner=f"owner-{i}")
    assert OutboxEvent.objects.count() == 0


def test_outbox_rows_are_kept_by_default_and_reemitted_in_order_unchanged(fake_registry) -> None:
    # Given the default: rows kept (for OUTBOX_RETENTION), some before and some after T
    account_open(owner="before")
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        (since,) = cursor.fetchone()
    for i in range(3):
        account_open(owner=f"gap-{i}")
    kept = list(OutboxEvent.objects.order_by("created_at").values_list("id", "created_at", "payload"))
    assert len(kept) == 4
    # When the rows since T are re-emitted (after a lost replication slot)
    assert reemit_outbox(since) == 3
    # Then they are the same rows (id = CloudEvents id, so consumers skip what they had)
    again = list(OutboxEvent.objects.order_by("created_at").values_list("id", "created_at", "payload"))
    assert [(i, c, bytes(p)) for i, c, p in again] == [(i, c, bytes(p)) for i, c, p in kept]


def test_publish_outside_a_transaction_is_refused(fake_registry) -> None:
    data = {
        "id": uuid.uuid4(),
        "owner": "x",
        "balance": 0,
        "opened_at": datetime.now(UTC),
        "version": 1,
    }
    assert not connection.in_atomic_block
    with pytest.raises(NotInTransaction):
        publish(ACCOUNT_STATE, data)


def test_publish_before_schemas_are_resolved_fails_loudly() -> None:
    use_registry(None)  # nothing resolved in this process
    data = {
        "id": uuid.uuid4(),
        "owner": "x",
        "balance": 0,
        "opened_at": datetime.now(UTC),
        "version": 1,
    }
    with pytest.raises(SchemaNotRegistered), transaction.atomic():
        publish(ACCOUNT_STATE, data)


def test_publish_makes_no_registry_call(fake_registry) -> None:
    # Given schemas resolved at start-up, a registry that would fail every call
    def refuse(*args: object) -> None:
        raise AssertionError("registry called inside the transaction")

    fake_registry.register = refuse  # type: ignore[method-assign]
    fake_registry.lookup = refuse  # type: ignore[method-assign]
    fake_registry.get_schema = refuse  # type: ignore[method-assign]
    # Then publishing still works
    account_open(owner="Maggie")


def test_event_carries_the_callers_trace_context(fake_registry) -> None:
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with captured_outbox() as events, trace_context(parent):
        account_open(owner="Homer")
    traceparent = events[0].headers["traceparent"]
    assert traceparent.split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert traceparent.split("-")[2] != "00f067aa0ba902b7"


def test_payload_uses_database_state_of_the_saved_model(fake_registry) -> None:
    with captured_outbox() as events, transaction.atomic():
        account = Account.objects.create(owner="Ned", opened_at=datetime.now(UTC))
        account.refresh_from_db()
        publish(ACCOUNT_STATE, account_state(account))
    assert events[0].data["opened_at"] == account.opened_at


# -- publish_many: a batch of events in one statement ---------------------------------------


def account_data(owner: str) -> dict[str, object]:
    return {"id": uuid.uuid4(), "owner": owner, "balance": 0, "opened_at": datetime.now(UTC), "version": 1}


def test_publish_many_writes_the_rows_publish_would_in_order(fake_registry) -> None:
    # Given one event published alone and three published as a batch
    ids = [uuid.uuid4() for _ in range(3)]
    moment = datetime(2026, 12, 3, 14, 0, 0, 123456, tzinfo=UTC)
    with captured_outbox() as events, transaction.atomic():
        publish(ACCOUNT_STATE, account_data("single"))
        returned = publish_many(
            [
                Outgoing(ACCOUNT_STATE, account_data(f"batch-{i}"), event_id=ids[i], time=moment)
                for i in range(3)
            ]
        )
    # Then the batch's rows follow the single one, in order, with the given ids and time
    assert returned == ids
    assert [e.data["owner"] for e in events] == ["single", "batch-0", "batch-1", "batch-2"]
    assert [e.id for e in events[1:]] == [str(i) for i in ids]
    single, first = events[0], events[1]
    assert first.headers["ce_time"] == "2026-12-03T14:00:00.123456Z"
    # and every CloudEvents attribute is there, as publish() writes it
    for name in ("ce_specversion", "ce_source", "ce_type", "content-type", "ce_dataschema"):
        assert first.headers[name] == single.headers[name]
    assert first.key == str(first.data["id"]) and first.topic == ACCOUNT_STATE.topic
    assert len({e.headers["traceparent"] for e in events}) == 4  # each starts its own trace


def publish_batch_then_fail() -> None:
    with transaction.atomic():
        publish_many([Outgoing(ACCOUNT_STATE, account_data(f"gone-{i}")) for i in range(5)])
        raise RuntimeError("the batch failed after publishing")


def test_publish_many_rolls_back_with_the_callers_transaction(fake_registry) -> None:
    with captured_outbox() as events, pytest.raises(RuntimeError):
        publish_batch_then_fail()
    assert events == []


def test_publish_many_outside_a_transaction_is_refused(fake_registry) -> None:
    with pytest.raises(NotInTransaction):
        publish_many([Outgoing(ACCOUNT_STATE, account_data("nope"))])


def test_publish_many_with_delete_after_insert_leaves_the_outbox_empty(fake_registry, settings) -> None:
    settings.EVENTING = {**settings.EVENTING, "OUTBOX_DELETE_AFTER_INSERT": True}
    with transaction.atomic():
        ids = publish_many([Outgoing(ACCOUNT_STATE, account_data(f"d-{i}")) for i in range(50)])
    assert len(set(ids)) == 50
    assert OutboxEvent.objects.count() == 0


def test_publish_many_refuses_data_that_does_not_match_the_schema(fake_registry) -> None:
    bad = {**account_data("bad"), "balance": "not a number"}
    with pytest.raises(EventingError), transaction.atomic():
        publish_many([Outgoing(ACCOUNT_STATE, account_data("good")), Outgoing(ACCOUNT_STATE, bad)])
    assert OutboxEvent.objects.count() == 0
