"""More of the doctor's database checks: the heartbeat's allowance grows with its interval,
lag adds up over a group's live members, the outbox table needs no REPLICA IDENTITY FULL,
re-emitting an empty gap, reading a real slot."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from eventing import cdc
from eventing.connect.debezium import Connector, DatabaseEndpoint, outbox_connector
from eventing.inbox.models import ConsumerStatus
from eventing.outbox.models import Heartbeat, OutboxEvent
from tests.testapp.services import account_open

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DB = DatabaseEndpoint("127.0.0.1", 5432, "x", "postgres", "postgres")


def beat(seconds_ago: float) -> None:
    Heartbeat.objects.update_or_create(
        id=1, defaults={"beat_at": datetime.now(UTC) - timedelta(seconds=seconds_ago)}
    )


def with_interval(seconds: int) -> Connector:
    connector = outbox_connector(f"doctor-{uuid.uuid4().hex[:6]}", DB)
    return Connector(connector.name, {**connector.config, "heartbeat.interval.ms": str(seconds * 1000)})


def test_a_slow_heartbeat_is_allowed_six_intervals() -> None:
    slow = with_interval(30)
    beat(150)
    assert cdc.heartbeat_findings(slow) == []  # 150 s < 6 x 30 s
    beat(200)
    (finding,) = cdc.heartbeat_findings(slow)
    assert finding.id == "CDC131" and "one every 30s expected" in finding.message


def test_a_fast_heartbeat_is_allowed_a_minute_at_least() -> None:
    fast = with_interval(1)
    beat(45)
    assert cdc.heartbeat_findings(fast) == []
    beat(90)
    assert [f.id for f in cdc.heartbeat_findings(fast)] == ["CDC131"]


def status(member: str, group: str, *, seen_ago: float = 0, lag: int | None = None) -> None:
    now = datetime.now(UTC)
    ConsumerStatus.objects.create(
        member=member,
        consumer_group=group,
        host="h",
        pid=1,
        started_at=now,
        seen_at=now - timedelta(seconds=seen_ago),
        lag=lag,
    )


def test_lag_adds_up_over_the_live_members_only() -> None:
    status("g/h/1", "g", lag=6_000)
    status("g/h/2", "g", lag=6_000)
    status("g/h/3", "g", lag=None)  # unknown: counts nothing
    status("g/h/old", "g", seen_ago=600, lag=1_000_000)  # gone: not counted, and not "no member"
    (finding,) = cdc.consumer_findings()
    assert (finding.id, finding.subject) == ("CDC171", "g")
    assert finding.message == "lag 12000 over 3 live members (above 10000)"
    assert cdc.consumer_findings(max_lag=12_000) == []


def test_the_outbox_table_needs_no_replica_identity_full() -> None:
    connector = outbox_connector(f"doctor-{uuid.uuid4().hex[:6]}", DB)
    assert cdc.table_findings(connector) == []  # eventing_outbox exists, REPLICA IDENTITY DEFAULT


def test_re_emitting_a_gap_with_no_rows_changes_nothing(fake_registry) -> None:
    account_open(owner="before")
    before = list(OutboxEvent.objects.values_list("id", "created_at"))
    assert cdc.reemit_outbox(datetime.now(UTC) + timedelta(minutes=1)) == 0
    assert list(OutboxEvent.objects.values_list("id", "created_at")) == before


def test_a_real_slot_is_read_with_its_lsns_and_retained_wal() -> None:
    name = f"doctor_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [name])
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        (current,) = cursor.fetchone()
    try:
        slot = cdc.read_slot(name)
        assert slot is not None
        assert (slot.name, slot.active) == (name, False)
        assert slot.restart_lsn is not None and slot.restart_lsn <= cdc.parse_lsn(current)  # type: ignore[operator]
        assert slot.retained_bytes is not None and slot.retained_bytes >= 0
        assert slot.wal_status in ("reserved", "extended")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_drop_replication_slot(%s)", [name])
    assert cdc.read_slot(name) is None
