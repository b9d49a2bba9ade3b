from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from customers import events
from customers.models import Customer
from customers.services import customer_create, customer_delete, customer_update
from event_contracts import CustomerEntityState
from eventing import EventType
from eventing.testing import captured_outbox, eventually
from tests.fakes import PublishedEvent

pytestmark = pytest.mark.integration

ESTABLISHED = datetime(1980, 2, 23, tzinfo=UTC)


def new_customer(**overrides: object) -> Customer:
    fields: dict[str, object] = {
        "first_name": "Bart",
        "last_name": "Simpson",
        "date_established": ESTABLISHED,
    }
    fields.update(overrides)
    return customer_create(**fields)  # type: ignore[arg-type]


@pytest.mark.django_db(transaction=True)
def test_create_publishes_the_state_inside_the_transaction(
    published: list[PublishedEvent],
) -> None:
    # Given no transaction is open around the call (transactional test)
    assert not connection.in_atomic_block

    # When
    customer = new_customer()

    # Then one CustomerEntityState event was handed over inside the transaction
    assert published == [
        PublishedEvent(
            "customer_entity_state",
            {
                "id": customer.id,
                "first_name": "Bart",
                "last_name": "Simpson",
                "date_established": ESTABLISHED,
                "version": 1,
            },
            in_transaction=True,
        )
    ]


@pytest.mark.django_db(transaction=True)
def test_update_publishes_the_new_state_with_the_next_version(
    published: list[PublishedEvent],
) -> None:
    customer = new_customer()

    updated = customer_update(customer=customer, first_name="Lisa")

    assert updated.version == 2
    assert published[-1] == PublishedEvent(
        "customer_entity_state",
        {
            "id": customer.id,
            "first_name": "Lisa",
            "last_name": "Simpson",
            "date_established": ESTABLISHED,
            "version": 2,
        },
        in_transaction=True,
    )
    assert Customer.objects.get(pk=customer.pk).version == 2


@pytest.mark.django_db(transaction=True)
def test_delete_publishes_the_last_state_with_the_next_version(
    published: list[PublishedEvent],
) -> None:
    customer = customer_update(customer=new_customer(), last_name="Bouvier")

    customer_delete(customer=customer)

    assert published[-1] == PublishedEvent(
        "customer_entity_deleted",
        {
            "id": customer.id,
            "first_name": "Bart",
            "last_name": "Bouvier",
            "date_established": ESTABLISHED,
            "version": 3,
        },
        in_transaction=True,
    )
    assert not Customer.objects.filter(pk=customer.pk).exists()


@pytest.mark.django_db
def test_date_established_is_published_in_utc(published: list[PublishedEvent]) -> None:
    local = datetime(1980, 2, 23, 1, 0, tzinfo=timezone(timedelta(hours=1)))

    new_customer(date_established=local)

    sent = published[0].data["date_established"]
    assert sent == ESTABLISHED
    assert sent.utcoffset() == timedelta(0)


@pytest.mark.django_db
def test_a_noop_update_publishes_nothing(published: list[PublishedEvent]) -> None:
    customer = new_customer()

    customer_update(customer=customer, first_name="Bart", last_name="Simpson")

    assert len(published) == 1
    assert Customer.objects.get(pk=customer.pk).version == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"first_name": ""},
        {"last_name": "x" * 101},
        {"date_established": datetime.fromisoformat("1980-02-23T00:00")},  # naive
    ],
)
def test_invalid_create_raises_and_publishes_nothing(published: list[PublishedEvent], fields: dict) -> None:
    with pytest.raises(ValidationError):
        new_customer(**fields)

    assert published == []
    assert Customer.objects.count() == 0


@pytest.mark.django_db
def test_invalid_update_raises_publishes_nothing_and_keeps_the_row(
    published: list[PublishedEvent],
) -> None:
    customer = new_customer()

    with pytest.raises(ValidationError):
        customer_update(customer=customer, first_name="")

    assert len(published) == 1
    stored = Customer.objects.get(pk=customer.pk)
    assert (stored.first_name, stored.version) == ("Bart", 1)


@pytest.mark.django_db
def test_update_rejects_unknown_fields() -> None:
    customer = new_customer()

    with pytest.raises(TypeError, match="version"):
        customer_update(customer=customer, version=7)


@pytest.mark.django_db(transaction=True)
def test_a_failing_publish_rolls_the_write_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the outbox write fails
    def broken(event_type: EventType, data: dict) -> None:
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(events, "publish_customer_event", broken)

    # When / Then: no customer exists without its event
    with pytest.raises(RuntimeError):
        new_customer()
    assert Customer.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_updates_get_distinct_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a customer, and a first update that is paused inside its transaction
    customer = new_customer()
    published: list[PublishedEvent] = []
    first_inside = threading.Event()
    release_first = threading.Event()
    errors: list[BaseException] = []

    def pausing_publish(event_type: EventType[CustomerEntityState], data: CustomerEntityState) -> None:
        published.append(
            PublishedEvent(event_type.type, dataclasses.asdict(data), connection.in_atomic_block)
        )
        if data.first_name == "First":
            first_inside.set()
            assert release_first.wait(timeout=20)

    monkeypatch.setattr(events, "publish_customer_event", pausing_publish)

    def update_in_thread(first_name: str) -> None:
        try:
            customer_update(customer=customer, first_name=first_name)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    try:
        first = threading.Thread(target=update_in_thread, args=("First",))
        first.start()
        assert first_inside.wait(timeout=20)

        # When a second update starts while the first holds its transaction open
        second = threading.Thread(target=update_in_thread, args=("Second",))
        second.start()
        eventually(_one_backend_waits_for_a_lock, timeout=20, what="the second update to wait")
        release_first.set()
        first.join(timeout=20)
        second.join(timeout=20)
    finally:
        release_first.set()

    # Then the second update waited and built on the first one
    assert errors == []
    states = [(e.data["first_name"], e.data["version"]) for e in published]
    assert states == [("First", 2), ("Second", 3)]
    assert Customer.objects.get(pk=customer.pk).version == 3


def _one_backend_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        (waiting,) = cursor.fetchone()
    return bool(waiting == 1)


@pytest.mark.django_db(transaction=True)
def test_the_outbox_receives_a_decodable_cloudevent_per_change() -> None:
    # Given the real outbox write path (rows kept for inspection)
    with captured_outbox() as outbox:
        customer = new_customer()
        customer_update(customer=customer, first_name="Lisa")
        customer_delete(customer=Customer.objects.get(pk=customer.pk))

    # Then each change left one event, keyed by the customer, in order
    assert [(e.type, e.data["first_name"], e.data["version"]) for e in outbox] == [
        ("customer_entity_state", "Bart", 1),
        ("customer_entity_state", "Lisa", 2),
        ("customer_entity_deleted", "Lisa", 3),
    ]
    assert {e.key for e in outbox} == {str(customer.id)}
    assert {e.topic for e in outbox} == {"public_customer_entity_events"}
    assert {e.source for e in outbox} == {"/customers"}
