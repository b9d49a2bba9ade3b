"""The doctor's database checks against real PostgreSQL: heartbeat, replica identity,
publication, slot WAL headroom, supervisor and consumer rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from eventing import cdc
from eventing.connect.debezium import Connector, DatabaseEndpoint, outbox_connector, table_capture_connector
from eventing.connect.models import ConnectorSupervision
from eventing.inbox.models import ConsumerStatus
from eventing.outbox.models import Heartbeat

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DB = DatabaseEndpoint("127.0.0.1", 5432, "x", "postgres", "postgres")


@pytest.fixture
def table() -> str:
    name = f"doctor_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, v text)")
    yield f"public.{name}"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


def capture(table: str) -> Connector:
    return table_capture_connector(
        f"doctor-{uuid.uuid4().hex[:6]}",
        DB,
        tables=[table],
        topic="t",
        registry_url="http://127.0.0.1:1/none",
    )


def ids(findings: list[cdc.Finding]) -> list[str]:
    return [f.id for f in findings]


def test_a_captured_table_without_replica_identity_full_is_an_error(table: str) -> None:
    connector = capture(table)
    (finding,) = cdc.table_findings(connector)
    assert finding.id == "CDC142" and "REPLICA IDENTITY DEFAULT" in finding.message
    assert f"ALTER TABLE {table} REPLICA IDENTITY FULL" in finding.fix
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} REPLICA IDENTITY FULL")
    assert cdc.table_findings(connector) == []


def test_a_missing_table_and_a_table_left_out_of_the_publication_are_errors(table: str) -> None:
    assert ids(cdc.table_findings(capture("public.no_such_table"))) == ["CDC140"]
    connector = capture(table)
    publication = connector.config["publication.name"]
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} REPLICA IDENTITY FULL")
        cursor.execute(f'CREATE PUBLICATION "{publication}"')  # empty: the table is not in it
    try:
        (finding,) = cdc.table_findings(connector)
        assert finding.id == "CDC141" and publication in finding.message
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP PUBLICATION "{publication}"')


def test_a_connector_without_a_heartbeat_and_a_stale_heartbeat_are_flagged() -> None:
    connector = outbox_connector("doctor-outbox", DB)
    no_heartbeat = Connector(
        connector.name, {k: v for k, v in connector.config.items() if "heartbeat" not in k}
    )
    assert ids(cdc.heartbeat_findings(no_heartbeat)) == ["CDC130"]
    assert ids(cdc.heartbeat_findings(connector)) == ["CDC131"]  # never beat
    Heartbeat.objects.create(id=1)
    assert cdc.heartbeat_findings(connector) == []
    Heartbeat.objects.filter(id=1).update(beat_at=datetime.now(UTC) - timedelta(minutes=5))
    (stale,) = cdc.heartbeat_findings(connector)
    assert stale.id == "CDC131" and "last beat 300s ago" in stale.message


def test_an_unused_slot_is_a_warning_with_its_retained_wal() -> None:
    connector = outbox_connector(f"doctor-{uuid.uuid4().hex[:6]}", DB)
    slot = connector.config["slot.name"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [slot])
    try:
        (finding,) = cdc.slot_findings(connector)
        assert finding.id == "CDC151" and "MiB of WAL" in finding.message
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_drop_replication_slot(%s)", [slot])
    assert cdc.slot_findings(connector) == []  # no slot: a gap finding's business


def test_an_unreachable_converter_registry_is_an_error(table: str) -> None:
    assert ids(cdc.converter_findings(capture(table))) == ["CDC161"]


def test_a_supervisor_that_gave_up_is_an_error_and_a_silent_one_a_warning() -> None:
    ConnectorSupervision.objects.create(
        connector="c", state="gave_up", restarts=8, last_error="boom", pid=1, seen_at=datetime.now(UTC)
    )
    (gave_up,) = cdc.supervision_findings("c")
    assert gave_up.id == "CDC120" and gave_up.severity == "error" and "boom" in gave_up.message
    ConnectorSupervision.objects.filter(connector="c").update(
        state="running", seen_at=datetime.now(UTC) - timedelta(minutes=5)
    )
    assert ids(cdc.supervision_findings("c")) == ["CDC121"]


def test_consumer_groups_without_live_members_or_with_high_lag_are_flagged() -> None:
    now = datetime.now(UTC)
    common = {"host": "h", "started_at": now, "applied": 0, "duplicates": 0, "skipped": 0, "retried": 0}
    ConsumerStatus.objects.create(
        member="a/h/1", consumer_group="a", pid=1, seen_at=now - timedelta(minutes=5), **common
    )
    ConsumerStatus.objects.create(
        member="b/h/2", consumer_group="b", pid=2, seen_at=now, lag=20_000, **common
    )
    ConsumerStatus.objects.create(member="c/h/3", consumer_group="c", pid=3, seen_at=now, lag=5, **common)
    assert [(f.id, f.subject) for f in cdc.consumer_findings()] == [("CDC170", "a"), ("CDC171", "b")]
