"""The inbox table and its purge against PostgreSQL: one row per (group, event), chunk
boundaries, fractional retentions, and the kept outbox rows' purge."""

from __future__ import annotations

import logging
import uuid

import pytest
from django.db import IntegrityError, connection, transaction

from eventing.inbox.models import InboxEntry, InboxStatus
from eventing.inbox.purge import purge_inbox, purge_outbox
from eventing.outbox.models import OutboxEvent
from tests.testapp.services import account_open

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def entries(group: str, count: int, *, age_seconds: float, status: str = InboxStatus.APPLIED) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    InboxEntry.objects.bulk_create(
        InboxEntry(consumer_group=group, event_id=i, topic="t", partition=0, offset=n, status=status)
        for n, i in enumerate(ids)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE eventing_inbox SET processed_at = now() - make_interval(secs => %s)"
            " WHERE event_id = ANY(%s)",
            [age_seconds, ids],
        )
    return ids


def test_an_event_is_recorded_once_per_group_and_each_group_records_it() -> None:
    InboxEntry.objects.create(consumer_group="a", event_id="e-1", topic="t", partition=0, offset=1)
    InboxEntry.objects.create(consumer_group="b", event_id="e-1", topic="t", partition=0, offset=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        InboxEntry.objects.create(consumer_group="a", event_id="e-1", topic="t", partition=3, offset=9)
    assert sorted(InboxEntry.objects.values_list("consumer_group", "event_id")) == [
        ("a", "e-1"),
        ("b", "e-1"),
    ]
    assert InboxEntry.objects.get(consumer_group="a").status == InboxStatus.APPLIED


def test_a_purge_of_exactly_a_multiple_of_the_chunk_deletes_everything_old() -> None:
    entries("g", 30, age_seconds=7200)
    kept = entries("g", 4, age_seconds=10)
    assert purge_inbox(older_than=3600, chunk=10) == 30
    assert sorted(InboxEntry.objects.values_list("event_id", flat=True)) == sorted(kept)


def test_dead_lettered_rows_past_the_retention_go_as_well() -> None:
    entries("g", 3, age_seconds=7200, status=InboxStatus.DEAD_LETTERED)
    assert purge_inbox(older_than=3600) == 3
    assert not InboxEntry.objects.exists()


def test_a_fractional_retention_is_honoured() -> None:
    old = entries("g", 2, age_seconds=3.0)
    recent = entries("g", 2, age_seconds=0.0)
    assert purge_inbox(older_than=1.5) == len(old)
    assert sorted(InboxEntry.objects.values_list("event_id", flat=True)) == sorted(recent)


def test_a_purge_with_nothing_to_delete_returns_zero_and_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    entries("g", 2, age_seconds=10)
    with caplog.at_level(logging.INFO, logger="eventing.inbox.purge"):
        assert purge_inbox(older_than=3600) == 0
        assert purge_inbox(older_than=0, group="nobody") == 0
    assert not [r for r in caplog.records if r.name == "eventing.inbox.purge"]
    assert InboxEntry.objects.count() == 2


def test_a_purge_that_deletes_logs_the_count_and_group(caplog: pytest.LogCaptureFixture) -> None:
    entries("g", 2, age_seconds=7200)
    with caplog.at_level(logging.INFO, logger="eventing.inbox.purge"):
        purge_inbox(older_than=3600, group="g")
    (record,) = [r for r in caplog.records if r.name == "eventing.inbox.purge"]
    assert (record.deleted, record.group) == (2, "g")  # type: ignore[attr-defined]


def test_the_outbox_purge_keeps_rows_within_the_retention(fake_registry) -> None:
    for _ in range(3):
        account_open(owner="old")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE eventing_outbox SET created_at = now() - interval '2 hours'")
    account_open(owner="new")
    assert purge_outbox(older_than=3600) == 3
    assert purge_outbox(older_than=3600) == 0
    (row,) = OutboxEvent.objects.all()
    assert row.created_at is not None
