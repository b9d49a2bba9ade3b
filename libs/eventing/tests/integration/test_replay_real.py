"""TopicReplay against real Kafka and the registry: up to the cut, then on; no group left behind.

The topic, its subject and anything named after the session are deleted at the end of the
session (``session_residue_removed``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from eventing import Event
from eventing.conf import eventing_settings
from eventing.consumer.kafka import ensure_topics
from eventing.consumer.registry import HandlerRegistry
from eventing.replay import build_replay
from tests.integration.test_real_stack import CloudEventProducer, account_data, fresh_event_type
from tests.settings import SESSION

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def test_a_replay_reads_real_kafka_from_the_beginning_to_the_cut_and_joins_no_group(
    live_schemas: Any,
) -> None:
    event_type = fresh_event_type()
    ensure_topics([event_type.topic])
    producer = CloudEventProducer(event_type, live_schemas)
    first = [producer.send(account_data(uuid.uuid4())) for _ in range(30)]
    producer.send(account_data(uuid.uuid4()), value=b"not avro")
    seen: list[str] = []
    handlers = HandlerRegistry()

    def apply(events: Sequence[Event]) -> None:
        seen.extend(e.id for e in events)

    handlers.handler(event_type, batch=True)(apply)
    prefix = f"tests-{SESSION}"
    replay = build_replay(handlers, prefix=prefix, idle_timeout=30)
    admin = AdminClient(eventing_settings.kafka_config())
    try:
        cut = replay.end_offsets()
        assert sum(cut.values()) == 31 and len(cut) == 3
        later = [producer.send(account_data(uuid.uuid4())) for _ in range(10)]

        stats = replay.replay_to(cut)

        assert sorted(seen) == sorted(first)  # nothing past the cut
        assert (stats.applied, stats.poison) == (30, 1)
        replay.replay_to(replay.end_offsets())
        assert sorted(seen) == sorted(first + later)
        groups = [g.group_id for g in admin.list_consumer_groups(request_timeout=10).result().valid]
        assert not [g for g in groups if g.startswith(prefix)]
    finally:
        replay.close()
        for future in admin.delete_topics([event_type.topic], operation_timeout=30).values():
            future.result()
