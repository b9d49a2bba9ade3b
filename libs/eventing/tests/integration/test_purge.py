"""Keeping the inbox and the outbox bounded: rows past their retention go, newer ones stay.

Against PostgreSQL (no Kafka). Rows are aged by setting their timestamps back.
"""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings

from eventing.inbox.models import InboxEntry, InboxStatus
from eventing.inbox.purge import purge_inbox, purge_outbox
from eventing.outbox.models import OutboxEvent
from tests.settings import EVENTING
from tests.testapp.services import account_open

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

HOUR = 3600.0


def inbox_rows(group: str, count: int, *, age_hours: float) -> set[str]:
    ids = {str(uuid.uuid4()) for _ in range(count)}
    InboxEntry.objects.bulk_create(
        InboxEntry(
            consumer_group=group, event_id=i, topic="t", partition=0, offset=n, status=InboxStatus.APPLIED
        )
        for n, i in enumerate(ids)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE eventing_inbox SET processed_at = now() - make_interval(hours => %s)"
            " WHERE event_id = ANY(%s)",
            [age_hours, list(ids)],
        )
    return ids


def remaining(group: str) -> set[str]:
    return set(InboxEntry.objects.filter(consumer_group=group).values_list("event_id", flat=True))


def test_inbox_rows_older_than_the_retention_are_deleted_in_chunks_and_newer_kept() -> None:
    old = inbox_rows("purge-a", 25, age_hours=48)
    new = inbox_rows("purge-a", 5, age_hours=1)
    # When rows older than a day are purged, 10 per transaction
    deleted = purge_inbox(older_than=24 * HOUR, chunk=10)
    # Then exactly the old ones went, over several chunks
    assert deleted == len(old)
    assert remaining("purge-a") == new


def test_an_inbox_purge_for_one_group_leaves_the_others() -> None:
    inbox_rows("purge-b", 3, age_hours=48)
    other = inbox_rows("purge-c", 3, age_hours=48)
    assert purge_inbox(older_than=HOUR, group="purge-b") == 3
    assert remaining("purge-b") == set()
    assert remaining("purge-c") == other


def age_outbox(hours: float) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE eventing_outbox SET created_at = created_at - make_interval(hours => %s)", [hours]
        )


def test_kept_outbox_rows_older_than_the_retention_are_deleted(fake_registry) -> None:
    with transaction.atomic():
        OutboxEvent.objects.all().delete()
    account_open(owner="old", balance=1)
    account_open(owner="old", balance=2)
    age_outbox(48)
    account_open(owner="new", balance=3)
    assert OutboxEvent.objects.count() == 3
    assert purge_outbox(older_than=24 * HOUR) == 2
    assert OutboxEvent.objects.count() == 1


def test_the_purge_command_uses_the_configured_retention_and_reports_counts(fake_registry) -> None:
    with transaction.atomic():
        OutboxEvent.objects.all().delete()
    old = inbox_rows("purge-d", 4, age_hours=10)
    new = inbox_rows("purge-d", 2, age_hours=1)
    account_open(owner="old", balance=1)
    age_outbox(10)
    out = io.StringIO()
    # When the retention is 5 h (a setting) and the command runs with --outbox
    with override_settings(EVENTING={**EVENTING, "INBOX_RETENTION": 5 * HOUR}):
        call_command("eventing_purge", "--outbox", stdout=out)
    # Then it says what it deleted, and only the rows past the retention are gone
    assert f"inbox: {len(old)} rows deleted" in out.getvalue()
    assert "outbox: 1 rows deleted" in out.getvalue()
    assert remaining("purge-d") == new
    assert OutboxEvent.objects.count() == 0


def test_the_purge_command_takes_an_explicit_age() -> None:
    inbox_rows("purge-e", 2, age_hours=3)
    out = io.StringIO()
    call_command("eventing_purge", "--older-than", str(2 * HOUR), stdout=out)
    assert "inbox: 2 rows deleted" in out.getvalue()
    assert remaining("purge-e") == set()
