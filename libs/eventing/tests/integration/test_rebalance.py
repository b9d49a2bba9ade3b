"""Real Kafka: a group that rebalances while it drains a backlog loses nothing, applies nothing twice.

Consumer processes (``manage.py eventing_consume``) share one group: the first drains a
backlog, a second joins and later leaves (SIGTERM), a third joins and is SIGKILLed
mid-batch. Each handler application writes an ``AppliedEvent`` row (no unique constraint),
so a lost event is a missing row and a double effect a second row, whatever the inbox says.
Run for each rebalance protocol the client offers: eager (``range``), incremental
(``cooperative-sticky``) and KIP-848 (``group.protocol=consumer``).
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from django.db import connection

from eventing.conf import eventing_settings
from eventing.consumer.kafka import ensure_topics
from eventing.inbox.models import InboxEntry
from eventing.schemas import register
from eventing.serialization.avro import AvroCodec
from eventing.serialization.registry import ConfluentSchemaRegistry
from eventing.testing import eventually
from tests.settings import SESSION
from tests.testapp.events import ACCOUNT_OPENED
from tests.testapp.models import AppliedEvent

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HERE = Path(__file__).resolve().parent.parent
TOTAL = 50_000
#: librdkafka settings per rebalance protocol. The classic protocols get the broker's minimum
#: session timeout so the SIGKILLed member's partitions move on quickly; for KIP-848 the
#: session timeout is the broker's (the local stack sets it to 10 s).
PROTOCOLS = {
    "eager": {"partition.assignment.strategy": "range", "session.timeout.ms": 6000},
    "cooperative-sticky": {"partition.assignment.strategy": "cooperative-sticky", "session.timeout.ms": 6000},
    "consumer": {"group.protocol": "consumer"},
}


@pytest.fixture(scope="module")
def backlog() -> Iterator[set[str]]:
    """TOTAL events on the bulk topic (3 partitions), produced once for every protocol's run."""
    topic = ACCOUNT_OPENED.topic
    ensure_topics([topic])
    registry = ConfluentSchemaRegistry(eventing_settings.SCHEMA_REGISTRY_URL)
    (resolved,) = register([ACCOUNT_OPENED], registry=registry)
    producer = Producer(eventing_settings.kafka_config(**{"linger.ms": 20}))
    event_ids: set[str] = set()
    opened_at = datetime.now(UTC)
    for _ in range(TOTAL):
        account_id, event_id = uuid.uuid4(), str(uuid.uuid4())
        data = {"id": account_id, "owner": "o", "balance": 0, "opened_at": opened_at, "version": 1}
        while True:
            try:
                producer.produce(
                    topic,
                    key=str(account_id).encode(),
                    value=AvroCodec.encode(resolved.schema_id, resolved.parsed, data),
                    headers=[("ce_id", event_id.encode()), ("ce_type", ACCOUNT_OPENED.type.encode())],
                )
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.1)
        producer.poll(0)
        event_ids.add(event_id)
    assert producer.flush(60) == 0
    yield event_ids
    registry.close()


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgresql://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def _group_done(group: str) -> bool:
    """Whether the group's committed offsets reached the end of every partition."""
    reader = Consumer(eventing_settings.kafka_config(**{"group.id": group, "enable.auto.commit": False}))
    try:
        partitions = [TopicPartition(ACCOUNT_OPENED.topic, p) for p in range(3)]
        committed = reader.committed(partitions, timeout=10)
        return all(tp.offset >= reader.get_watermark_offsets(tp, timeout=10)[1] for tp in committed)
    finally:
        reader.close()


@pytest.mark.timeout(420)
@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_members_joining_leaving_and_dying_mid_backlog_lose_nothing(protocol: str, backlog: set[str]) -> None:
    group = f"tests.rebalance.{protocol}.{SESSION}.{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "EVENTING_TEST_DATABASE_URL": _database_url(),
        "EVENTING_TEST_KAFKA_CONFIG": json.dumps(PROTOCOLS[protocol]),
        # Small, slow batches: the backlog lasts while members come and go.
        "EVENTING_TEST_BATCH_SIZE": "100",
        "EVENTING_TEST_BATCH_COST": "0.05",
        "PYTHONPATH": str(HERE.parent),
    }
    command = [
        *(sys.executable, "-m", "django", "eventing_consume", "--settings", "tests.settings"),
        *("--group", group, "--topic", ACCOUNT_OPENED.topic),
    ]
    members: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        member = subprocess.Popen(command, env=env, cwd=HERE.parent, stderr=subprocess.PIPE)
        members.append(member)
        return member

    def stop(member: subprocess.Popen[bytes]) -> None:
        member.send_signal(signal.SIGTERM)
        _, stderr = member.communicate(timeout=90)
        assert member.returncode == 0, stderr.decode()[-3000:]

    applied = AppliedEvent.objects
    try:
        # Given one member draining the backlog
        first = start()
        eventually(lambda: applied.count() >= 2_000, timeout=90, what="the first member to drain")
        # When a second member joins and takes partitions
        second = start()
        eventually(lambda: applied.filter(pid=second.pid).exists(), timeout=90, what="the second member")
        # ...a third joins and is SIGKILLed while it works
        third = start()
        eventually(lambda: applied.filter(pid=third.pid).count() >= 300, timeout=90, what="the third member")
        third.kill()
        third.wait(timeout=30)
        # ...and the second leaves (SIGTERM) while part of the backlog is still unapplied
        stop(second)
        left_when_second_left = TOTAL - applied.values("event_id").distinct().count()
        # Then the remaining member finishes the backlog and commits to the end
        eventually(lambda: _group_done(group), timeout=240, interval=1, what="the group to commit all")
        stop(first)
    finally:
        for member in members:
            if member.poll() is None:
                member.kill()
                member.wait(timeout=30)

    assert left_when_second_left > 0, "the backlog was drained before the scenario ended"
    counts = collections.Counter(applied.values_list("event_id", flat=True))
    missing = backlog - counts.keys()
    assert not missing, f"{len(missing)} events never applied, e.g. {sorted(missing)[:3]}"
    doubled = {event_id: n for event_id, n in counts.items() if n > 1}
    assert not doubled, f"{len(doubled)} events applied more than once"
    assert set(counts) == backlog
    assert InboxEntry.objects.filter(consumer_group=group).count() == TOTAL
    # Every member that came did work: the rebalances really moved partitions.
    assert {first.pid, second.pid, third.pid} <= set(applied.values_list("pid", flat=True))
