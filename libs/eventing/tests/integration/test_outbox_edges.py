"""The outbox write path's edges against PostgreSQL: bad input and settings, duplicate ids,
delete-after-insert through either binding mode, metrics only on commit, the bulk cursor."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from django.db import IntegrityError, ProgrammingError, connection, transaction
from prometheus_client import REGISTRY

from eventing import Outgoing, publish, publish_many
from eventing.bulk import bulk_cursor
from eventing.events import EventType
from eventing.exceptions import ConfigurationError
from eventing.outbox.models import OutboxEvent
from eventing.schemas import register
from eventing.testing import captured_outbox
from eventing.testing.contracts import rolled_back
from eventing.tracing import trace_context
from tests.settings import scratch_topic
from tests.testapp.events import ACCOUNT_STATE

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def account(owner: str = "o", *, key: uuid.UUID | None = None, version: int = 1) -> dict[str, Any]:
    return {
        "id": key or uuid.uuid4(),
        "owner": owner,
        "balance": 0,
        "opened_at": datetime.now(UTC),
        "version": version,
    }


def published(topic: str, type_name: str = "account_state") -> float:
    value = REGISTRY.get_sample_value("eventing_outbox_published_total", {"topic": topic, "type": type_name})
    return value or 0.0


@pytest.fixture
def eventing(settings: Any) -> Any:
    def use(**overrides: Any) -> None:
        settings.EVENTING = {**settings.EVENTING, **overrides}

    return use


# -- refused input and settings --------------------------------------------------------------


def test_a_naive_event_time_is_refused_and_writes_nothing(fake_registry) -> None:
    with pytest.raises(ConfigurationError, match="timezone-aware"), transaction.atomic():
        publish(ACCOUNT_STATE, account(), time=datetime(2026, 1, 1, 12, 0))
    with pytest.raises(ConfigurationError, match="timezone-aware"), transaction.atomic():
        publish_many([Outgoing(ACCOUNT_STATE, account(), time=datetime(2026, 1, 1, 12, 0))])
    assert OutboxEvent.objects.count() == 0


def test_an_event_time_in_another_zone_is_written_in_utc(fake_registry) -> None:
    tokyo = timezone(timedelta(hours=9))
    with captured_outbox() as events, transaction.atomic():
        publish(ACCOUNT_STATE, account(), time=datetime(2026, 1, 1, 9, 0, 0, 5, tzinfo=tokyo))
    assert events[0].headers["ce_time"] == "2026-01-01T00:00:00.000005Z"


@pytest.mark.parametrize("source", [None, ""])
def test_publishing_without_a_source_is_a_configuration_error(
    fake_registry, eventing: Any, source: str | None
) -> None:
    eventing(SOURCE=source)
    with pytest.raises(ConfigurationError, match=r"EVENTING\['SOURCE'\] must be set"), transaction.atomic():
        publish(ACCOUNT_STATE, account())
    with pytest.raises(ConfigurationError, match=r"EVENTING\['SOURCE'\] must be set"), transaction.atomic():
        publish_many([Outgoing(ACCOUNT_STATE, account())])
    assert OutboxEvent.objects.count() == 0


def test_a_public_registry_base_names_the_schema_by_url(fake_registry, eventing: Any) -> None:
    eventing(DATASCHEMA_BASE="https://registry.example.com/apis/ccompat/v7/")
    with captured_outbox() as events, transaction.atomic():
        publish(ACCOUNT_STATE, account())
        publish_many([Outgoing(ACCOUNT_STATE, account())])
    schema_id = int.from_bytes(events[0].raw_value[1:5], "big")  # type: ignore[index]
    expected = f"https://registry.example.com/apis/ccompat/v7/schemas/ids/{schema_id}"
    assert [e.headers["ce_dataschema"] for e in events] == [expected, expected]


# -- ids are unique ----------------------------------------------------------------------------


def test_an_event_id_already_in_the_outbox_fails_the_transaction(fake_registry) -> None:
    event_id = uuid.uuid4()
    with transaction.atomic():
        publish(ACCOUNT_STATE, account("first"), event_id=event_id)
    with pytest.raises(IntegrityError), transaction.atomic():
        publish(ACCOUNT_STATE, account("second"), event_id=event_id)
    with pytest.raises(IntegrityError), transaction.atomic():  # Django's error, from the bulk cursor too
        publish_many(
            [Outgoing(ACCOUNT_STATE, account("third")), Outgoing(ACCOUNT_STATE, account(), event_id=event_id)]
        )
    assert list(OutboxEvent.objects.values_list("id", flat=True)) == [event_id]
    assert OutboxEvent.objects.get().payload  # the first one's row, untouched


def test_a_batch_repeating_an_id_is_refused_as_a_whole(fake_registry) -> None:
    repeated = uuid.uuid4()
    with pytest.raises(IntegrityError), transaction.atomic():
        publish_many([Outgoing(ACCOUNT_STATE, account(), event_id=repeated) for _ in range(2)])
    assert OutboxEvent.objects.count() == 0


# -- publish_many details ------------------------------------------------------------------------


def test_a_batch_over_several_topics_routes_each_event_to_its_own(fake_registry) -> None:
    other = EventType("account_state", scratch_topic("outbox_edges"), ACCOUNT_STATE.schema)
    register([other], registry=fake_registry)
    chosen = "tenant-7"
    with captured_outbox() as events, transaction.atomic():
        ids = publish_many(
            [
                Outgoing(ACCOUNT_STATE, account("a")),
                Outgoing(other, account("b"), key=chosen),
                Outgoing(ACCOUNT_STATE, account("c")),
            ]
        )
    assert [e.id for e in events] == [str(i) for i in ids]
    assert [(e.topic, e.data["owner"]) for e in events] == [
        (ACCOUNT_STATE.topic, "a"),
        (other.topic, "b"),
        (ACCOUNT_STATE.topic, "c"),
    ]
    assert events[1].key == chosen
    assert events[0].key == str(events[0].data["id"])


def test_a_batch_in_a_trace_continues_the_callers_trace(fake_registry) -> None:
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    given = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with captured_outbox() as events, trace_context(parent), transaction.atomic():
        publish_many(
            [Outgoing(ACCOUNT_STATE, account()), Outgoing(ACCOUNT_STATE, account(), traceparent=given)]
        )
    assert events[0].headers["traceparent"].split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert events[1].headers["traceparent"] == given


def test_an_empty_batch_writes_nothing_and_returns_no_ids(fake_registry) -> None:
    with transaction.atomic():
        assert publish_many([]) == []
    assert OutboxEvent.objects.count() == 0


# -- delete after insert -------------------------------------------------------------------------


@pytest.mark.parametrize("server_side_binding", [False, True])
def test_delete_after_insert_leaves_no_row_in_either_binding_mode(
    fake_registry, eventing: Any, monkeypatch: pytest.MonkeyPatch, server_side_binding: bool
) -> None:
    eventing(OUTBOX_DELETE_AFTER_INSERT=True)
    options = {**connection.settings_dict.get("OPTIONS", {}), "server_side_binding": server_side_binding}
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)
    with transaction.atomic():
        first = publish(ACCOUNT_STATE, account())
        second = publish(ACCOUNT_STATE, account())
        inside = OutboxEvent.objects.count()
    assert first != second
    assert inside == 0  # deleted by the statement that inserted it, in the same transaction
    assert OutboxEvent.objects.count() == 0


def test_delete_after_insert_rows_still_reach_the_wal(fake_registry, eventing: Any) -> None:
    """The insert is what Debezium reads: a trigger sees every row, though the table stays empty."""
    eventing(OUTBOX_DELETE_AFTER_INSERT=True)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE seen (id uuid)")
        cursor.execute(
            "CREATE FUNCTION pg_temp.record_insert() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO seen VALUES (NEW.id); RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER record_insert AFTER INSERT ON eventing_outbox "
            "FOR EACH ROW EXECUTE FUNCTION pg_temp.record_insert()"
        )
    try:
        with transaction.atomic():
            one = publish(ACCOUNT_STATE, account())
            many = publish_many([Outgoing(ACCOUNT_STATE, account()) for _ in range(3)])
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM seen")
            seen = [row[0] for row in cursor.fetchall()]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER record_insert ON eventing_outbox")
            cursor.execute("DROP FUNCTION pg_temp.record_insert()")
            cursor.execute("DROP TABLE seen")
    assert seen == [one, *many]
    assert OutboxEvent.objects.count() == 0


# -- metrics count committed events only ---------------------------------------------------------


def test_published_events_are_counted_when_their_transaction_commits(fake_registry) -> None:
    other = EventType("account_state", scratch_topic("outbox_metrics"), ACCOUNT_STATE.schema)
    register([other], registry=fake_registry)
    before = published(ACCOUNT_STATE.topic), published(other.topic)
    rolled_back(lambda: (publish(ACCOUNT_STATE, account()), publish_many([Outgoing(other, account())])))
    assert (published(ACCOUNT_STATE.topic), published(other.topic)) == before
    with transaction.atomic():
        publish(ACCOUNT_STATE, account())
        publish_many(
            [Outgoing(ACCOUNT_STATE, account()), Outgoing(other, account()), Outgoing(other, account())]
        )
        assert (published(ACCOUNT_STATE.topic), published(other.topic)) == before  # not yet
    assert published(ACCOUNT_STATE.topic) == before[0] + 2
    assert published(other.topic) == before[1] + 2


# -- the bulk cursor -----------------------------------------------------------------------------


def test_the_bulk_cursor_reconnects_and_raises_djangos_errors() -> None:
    connection.close()
    with bulk_cursor("default") as cursor:
        cursor.execute("SELECT %s::int + 1", [41])
        assert cursor.fetchone() == (42,)
    with pytest.raises(ProgrammingError), bulk_cursor("default") as cursor:
        cursor.execute("SELECT * FROM no_such_table")


def test_the_bulk_cursor_works_inside_the_callers_transaction(fake_registry) -> None:
    def publish_and_count() -> Any:
        publish(ACCOUNT_STATE, account())
        with bulk_cursor("default") as cursor:
            cursor.execute("SELECT count(*) FROM eventing_outbox")
            return cursor.fetchone()

    assert rolled_back(publish_and_count) == (1,)  # sees the uncommitted row: same transaction
    assert OutboxEvent.objects.count() == 0
